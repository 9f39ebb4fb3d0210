#include "helper.h"
int cmd_untar(int argc, char **argv) { die(125, "cmd_untar: not implemented yet"); }
