#include "helper.h"
int cmd_rmtree(int argc, char **argv) { die(125, "cmd_rmtree: not implemented yet"); }
int cmd_mkrootfs(int argc, char **argv) { die(125, "cmd_mkrootfs: not implemented yet"); }
