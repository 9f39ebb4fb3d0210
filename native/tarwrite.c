#include "helper.h"
int cmd_tar_dir(int argc, char **argv) { die(125, "cmd_tar_dir: not implemented yet"); }
