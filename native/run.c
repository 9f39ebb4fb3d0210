#include "helper.h"
int cmd_run(int argc, char **argv) { die(125, "cmd_run: not implemented yet"); }
int cmd_mount_exec(int argc, char **argv) { die(125, "cmd_mount_exec: not implemented yet"); }
