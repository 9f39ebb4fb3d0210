/* ctr-helper entry point: global options, then one command. See PROTOCOL.md. */
#include "helper.h"
#include "runtime.h"
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

const char *g_rundir;
int g_debug;

struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
    {"userns-exec", cmd_userns_exec}, {"id-map", cmd_id_map},     {"untar", cmd_untar},
    {"rmtree", cmd_rmtree},           {"mkrootfs", cmd_mkrootfs}, {"tar-dir", cmd_tar_dir},
    {"mount-exec", cmd_mount_exec},   {"run", cmd_run},           {"attach", cmd_attach},
    {"exec", cmd_exec},               {"pids", cmd_pids},         {"signal-all", cmd_signal_all},
    {"cp-out", cmd_cp_out},           {"cp-in", cmd_cp_in},       {"gzip", cmd_gzip},
    {"sha256", cmd_sha256},           {"net-attach", cmd_net_attach},
};

int main(int argc, char **argv) {
  save_argv(argc, argv);
  if (argc > 1 && strcmp(argv[1], "__init") == 0) return cmd_init(argc - 1, argv + 1);
  int i = 1;
  const char *chroot_dir = NULL;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--rundir") == 0 && i + 1 < argc) {
      g_rundir = argv[++i];
    } else if (strcmp(argv[i], "--chroot") == 0 && i + 1 < argc) {
      chroot_dir = argv[++i];
    } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
      g_debug = strcmp(argv[++i], "debug") == 0;
    } else {
      break;
    }
  }
  if (i >= argc) die(125, "no command given; see PROTOCOL.md");
  const char *cmd = argv[i];
  if (strcmp(cmd, "version") == 0) {
    printf("ctr-helper %s\n", CTR_HELPER_VERSION);
    return 0;
  }
  if (!g_rundir) {
    const char *x = getenv("XDG_RUNTIME_DIR");
    static char buf[4096];
    if (is_real_root()) g_rundir = "/run/ctr";
    else if (x && *x) { snprintf(buf, sizeof buf, "%s/ctr", x); g_rundir = buf; }
    else { snprintf(buf, sizeof buf, "/tmp/ctr-%u", (unsigned)getuid()); g_rundir = buf; }
  }
  if (chroot_dir) {
    /* --chroot DIR: the command sees DIR (e.g. /proc/PID/root of a running container, or a
       mounted rootfs) as "/", so absolute symlinks inside it resolve inside it (ctr cp). */
    int pid = 0;
    if (sscanf(chroot_dir, "/proc/%d/root", &pid) == 1 && pid > 0)
      join_userns_of(pid); /* the container's own namespace, even if the pause was replaced */
    else
      join_userns();
    untar_load_idmaps(); /* for its notes: /proc/self is not there once chrooted */
    if (chroot(chroot_dir) != 0 || chdir("/") != 0) die_errno(125, "cannot enter %s", chroot_dir);
  }
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (strcmp(commands[k].name, cmd) == 0) return commands[k].fn(argc - i, argv + i);
  die(125, "unknown command \"%s\"", cmd);
}
