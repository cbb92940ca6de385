#include "keyguard.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int keyguard_no_dumps(void)
{
	const struct rlimit none = {0, 0};
	int ret = 0;

	if (setrlimit(RLIMIT_CORE, &none) != 0)
		ret = errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		ret = errno;
	return ret;
}

int keyguard_file_check(const char *path, unsigned *mode)
{
	struct stat sb;
	bool group_ok;

	*mode = 0;
	if (stat(path, &sb) != 0)
		return errno;
	*mode = (unsigned)(sb.st_mode & 07777);
	/* Group read only, for the group we run as, of a file someone else (root) owns. */
	group_ok =
	    (sb.st_mode & S_IRWXG) == S_IRGRP && sb.st_gid == getegid() && sb.st_uid != geteuid();
	if ((sb.st_mode & S_IRWXO) || ((sb.st_mode & S_IRWXG) && !group_ok))
		return EPERM;
	return 0;
}
