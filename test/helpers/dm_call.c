/* Issues delete_module calls with exact arguments for the recording tests and
 * prints what it did, one JSON object per call, so the test can compare the
 * capture against ground truth.
 *
 *   dm_call [--uid UID] HEXNAME FLAGS [HEXNAME FLAGS ...]
 *   dm_call --flood N HEXNAME FLAGS     (N calls, one summary line)
 *
 * --uid drops to that user (and group) and all capabilities first, for the
 * unprivileged (EPERM) case.
 * HEXNAME is the name's bytes in hex ("" for an empty name), or "unmapped"
 * for a pointer to a page that was mapped and then unmapped. FLAGS is decimal.
 * Names are copied into a written (so resident) heap buffer first: a pointer
 * into untouched read-only data may not be readable at syscall entry. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	if (n >= cap) {
		fprintf(stderr, "dm_call: name too long\n");
		exit(2);
	}
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	out[n] = 0;
	return n;
}

static int flood(long n, const char *hexname, unsigned int flags)
{
	unsigned char name[512];
	long failed = 0;

	unhex(hexname, name, sizeof(name));
	for (long i = 0; i < n; i++)
		failed += syscall(SYS_delete_module, name, flags) < 0;
	printf("{\"pid\":%d,\"calls\":%ld,\"failed\":%ld}\n", getpid(), n, failed);
	return 0;
}

static void drop_to(const char *uid_text)
{
	uid_t uid = strtoul(uid_text, NULL, 10);

	if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
		perror("dm_call: dropping privileges");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int first = 1;

	if (argc == 5 && strcmp(argv[1], "--flood") == 0)
		return flood(strtol(argv[2], NULL, 10), argv[3], strtoul(argv[4], NULL, 10));
	if (argc > 2 && strcmp(argv[1], "--uid") == 0) {
		drop_to(argv[2]);
		first = 3;
	}
	if (argc - first < 2 || (argc - first) % 2) {
		fprintf(stderr, "usage: dm_call [--uid UID] HEXNAME FLAGS [HEXNAME FLAGS ...]\n");
		return 2;
	}
	for (int i = first; i + 1 < argc; i += 2) {
		unsigned char *buf = malloc(512);
		const char *ptr;
		unsigned int flags = strtoul(argv[i + 1], NULL, 10);

		if (strcmp(argv[i], "unmapped") == 0) {
			void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			munmap(page, 4096);
			ptr = page;
		} else {
			unhex(argv[i], buf, 512);
			ptr = (const char *)buf;
		}
		long ret = syscall(SYS_delete_module, ptr, flags);
		int err = ret < 0 ? errno : 0;

		printf("{\"pid\":%d,\"tid\":%ld,\"uid\":%u,\"name_ptr\":\"%llu\",\"flags\":%u,\"ret\":%ld}\n",
		       getpid(), (long)syscall(SYS_gettid), getuid(), (unsigned long long)(uintptr_t)ptr,
		       flags, ret < 0 ? -(long)err : ret);
		free(buf);
	}
	return 0;
}
