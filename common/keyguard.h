#ifndef KMA_KEYGUARD_H
#define KMA_KEYGUARD_H

/*
 * Keeping private keys where they belong: out of core dumps, and out of files that others
 * may read. Used by kma-coord (its TLS key and the cluster CA key) and kma-agent.
 */

#include <stdbool.h>

/*
 * Makes the process non-dumpable (PR_SET_DUMPABLE 0: no core file, no ptrace by the same
 * user, /proc/PID owned by root) and sets RLIMIT_CORE to 0, soft and hard, so that its
 * children are not dumped either. Call first thing in main, before any key is read.
 * Returns 0, or an errno value (the process goes on: a sandbox may forbid prctl).
 */
int keyguard_no_dumps(void) __attribute__((warn_unused_result));

/*
 * Whether the private key file at path (symbolic links followed) is private: nobody but its
 * owner may read or write it, except that its group may read it (0640) when the group is
 * the caller's effective group and the caller does not own the file (the packaged layout:
 * root:kma-coord 0640, read by the user kma-coord). Returns 0; EPERM when it is too open,
 * with its permission bits in *mode; or the errno of stat.
 */
int keyguard_file_check(const char *path, unsigned *mode) __attribute__((warn_unused_result));

#endif
