#include "helper.h"
int cmd_pids(int argc, char **argv) { die(125, "cmd_pids: not implemented yet"); }
int cmd_signal_all(int argc, char **argv) { die(125, "cmd_signal_all: not implemented yet"); }
