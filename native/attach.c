#include "helper.h"
int cmd_attach(int argc, char **argv) { die(125, "cmd_attach: not implemented yet"); }
