#include "helper.h"
int cmd_exec(int argc, char **argv) { die(125, "cmd_exec: not implemented yet"); }
