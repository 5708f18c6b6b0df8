/* Issues delete_module calls with exact arguments for the recording tests and
 * prints what it did, one JSON object per call, with the process context the
 * recorder should see (from /proc/self), so tests compare a capture against
 * ground truth.
 *
 *   dm_call [--uid UID] [--linger MS] [--unlink-self] [--unmap-args] NAME FLAGS [NAME FLAGS ...]
 *   dm_call --flood N HEXNAME FLAGS       N calls, one summary line (with the
 *                                         time they took, in ns)
 *   dm_call --flood-names N HEXPREFIX FLAGS   the same, a new name every call
 *                                         (the prefix, then the call's number)
 *   dm_call --flood-rate N RATE HEXNAME FLAGS N calls at about RATE per second
 *   dm_call --getppid N                   N getppid calls: what any syscall
 *                                         pays for a hook on every syscall
 *   dm_call --race N HEX_A HEX_B          N calls (0: until one returns 0) on
 *                                         one buffer that a second thread
 *                                         keeps flipping between A and B
 *
 * NAME is the name's bytes in hex ("" for an empty name); "unmapped", a
 * pointer to a page mapped and then unmapped; or "file:PATH", a pointer into
 * a read-only private mapping of PATH that nothing has touched yet, so the
 * page is not resident when the call starts. FLAGS is decimal.
 * --uid drops to that user and group, and so all capabilities, first.
 * --linger waits that long before exiting, so /proc/PID/exe can still be read.
 * --unlink-self deletes the executable (run a copy) before the calls.
 * --unmap-args points the argument area (prctl PR_SET_MM, as root) at a page
 * it then unmaps, so that no one can read it. The JSON line also has the
 * argument area as this process reads it (/proc/self/cmdline, in hex), its
 * terminal (ttyname of stdin) and its parent's executable.
 * Names are copied into a written (so resident) heap buffer: a pointer into
 * untouched read-only data may not be readable at syscall entry. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NAME_CAP 512

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

static long delete_module(const void *name, unsigned int flags)
{
	long ret = syscall(SYS_delete_module, name, flags);

	return ret < 0 ? -(long)errno : ret;
}

/* First line of a /proc file, without its newline ("" if unreadable). */
static void read_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	out[0] = 0;
	if (f && fgets(out, cap, f))
		out[strcspn(out, "\n")] = 0;
	if (f)
		fclose(f);
}

static unsigned long ns_inum(const char *ns)
{
	char path[64], link[64] = "";

	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	if (readlink(path, link, sizeof(link) - 1) < 0)
		return 0;
	return strtoul(strchr(link, '[') ? strchr(link, '[') + 1 : "0", NULL, 10);
}

static void unmap_args(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED || prctl(PR_SET_MM, PR_SET_MM_ARG_START, (unsigned long)page, 0, 0) != 0 ||
	    prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long)page + 64, 0, 0) != 0) {
		perror("dm_call: --unmap-args");
		exit(1);
	}
	munmap(page, 4096);
}

static void unlink_self(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0 || (exe[n] = 0, unlink(exe) != 0)) {
		perror("dm_call: --unlink-self");
		exit(1);
	}
}

/* The argument area in hex (empty when unreadable), the terminal and the
 * parent's executable, as this process sees them. */
static void print_image(void)
{
	char path[64], parent_exe[4096] = "", *tty = ttyname(0);
	unsigned char area[8192];
	size_t n = 0;
	FILE *f = fopen("/proc/self/cmdline", "r");

	if (f) {
		n = fread(area, 1, sizeof(area), f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", getppid());
	if (readlink(path, parent_exe, sizeof(parent_exe) - 1) < 0)
		parent_exe[0] = 0;
	printf(",\"cmdline_hex\":\"");
	for (size_t i = 0; i < n; i++)
		printf("%02x", area[i]);
	printf("\",\"tty\":\"%s\",\"parent_exe\":\"%s\"", tty ? tty : "", parent_exe);
}

/* The context fields of the JSON line, as this process sees itself. */
static void print_context(void)
{
	char path[64], parent_comm[64], loginuid[32], sessionid[32], exe[4096] = "", line[512], cap_eff[32] = "";
	char cgroup[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", getppid());
	read_line(path, parent_comm, sizeof(parent_comm));
	read_line("/proc/self/loginuid", loginuid, sizeof(loginuid));
	read_line("/proc/self/sessionid", sessionid, sizeof(sessionid));
	if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) < 0)
		exe[0] = 0;
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %31s", cap_eff) == 1)
			break;
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(cgroup, sizeof(cgroup), "%s", line + 3);
		}
	if (f)
		fclose(f);
	printf("\"ppid\":%d,\"parent_comm\":\"%s\",\"loginuid\":%s,\"sessionid\":%s,"
	       "\"mntns\":%lu,\"pidns\":%lu,\"utsns\":%lu,\"cap_effective\":\"%s\",\"exe\":\"%s\",\"cgroup\":\"%s\"",
	       getppid(), parent_comm, loginuid[0] ? loginuid : "null", sessionid[0] ? sessionid : "null",
	       ns_inum("mnt"), ns_inum("pid"), ns_inum("uts"), cap_eff, exe, cgroup);
	print_image();
}

static const char *name_pointer(const char *spec, unsigned char *buf)
{
	if (strcmp(spec, "unmapped") == 0) {
		void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		munmap(page, 4096);
		return page;
	}
	if (strncmp(spec, "file:", 5) == 0) {
		int fd = open(spec + 5, O_RDONLY);
		void *map = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

		if (map == MAP_FAILED) {
			perror("dm_call: mapping the name file");
			exit(1);
		}
		return map;
	}
	unhex(spec, buf, NAME_CAP);
	return (const char *)buf;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void flood_summary(long n, long failed, long long ns)
{
	printf("{\"pid\":%d,\"calls\":%ld,\"failed\":%ld,\"ns\":%lld}\n", getpid(), n, failed, ns);
}

/* rate 0: as fast as possible. Paced calls go in batches of 100, each
 * waiting for its time, so that pacing costs no syscall per call. */
static int flood(long n, long rate, const char *hexname, unsigned int flags)
{
	unsigned char name[NAME_CAP];
	long failed = 0;
	long long start;

	unhex(hexname, name, sizeof(name));
	start = now_ns();
	for (long i = 0; i < n; i++) {
		if (rate > 0 && i % 100 == 0)
			while (now_ns() - start < i * 1000000000LL / rate)
				;
		failed += delete_module(name, flags) < 0;
	}
	flood_summary(n, failed, now_ns() - start);
	return 0;
}

static int flood_names(long n, const char *hexprefix, unsigned int flags)
{
	unsigned char name[NAME_CAP];
	size_t len = unhex(hexprefix, name, sizeof(name) - 24);
	long failed = 0;
	long long start = now_ns();

	for (long i = 0; i < n; i++) {
		snprintf((char *)name + len, 24, "%ld", i);
		failed += delete_module(name, flags) < 0;
	}
	flood_summary(n, failed, now_ns() - start);
	return 0;
}

static int getppid_loop(long n)
{
	long long start = now_ns();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("{\"pid\":%d,\"calls\":%ld,\"ns\":%lld}\n", getpid(), n, now_ns() - start);
	return 0;
}

/* The racing buffer, and the two names the flipper copies into it in turn. */
static unsigned char race_buf[64], race_names[2][64];
static volatile int race_done, race_flipping;

static void *flipper(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; !race_done; i++) {
		memcpy(race_buf, race_names[i & 1], sizeof(race_buf));
		race_flipping = 1;
	}
	return NULL;
}

static int race(long n, const char *hex_a, const char *hex_b)
{
	pthread_t thread;
	long calls = 0, ok = 0;
	const long limit = n > 0 ? n : 10000000;

	unhex(hex_a, race_names[0], sizeof(race_names[0]));
	unhex(hex_b, race_names[1], sizeof(race_names[1]));
	memcpy(race_buf, race_names[0], sizeof(race_buf));
	pthread_create(&thread, NULL, flipper, NULL);
	/* The calls are quick: without this, they could all be over before
	 * the flipping thread first runs. */
	while (!race_flipping)
		;
	while (calls < limit) {
		calls++;
		if (delete_module(race_buf, 0) == 0) {
			ok++;
			if (n == 0)
				break;
		}
	}
	race_done = 1;
	pthread_join(thread, NULL);
	printf("{\"pid\":%d,\"tid\":%ld,\"name_ptr\":\"%llu\",\"calls\":%ld,\"ok\":%ld}\n", getpid(),
	       (long)syscall(SYS_gettid), (unsigned long long)(uintptr_t)race_buf, calls, ok);
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
	long linger_ms = 0;

	if (argc == 5 && strcmp(argv[1], "--flood") == 0)
		return flood(strtol(argv[2], NULL, 10), 0, argv[3], strtoul(argv[4], NULL, 10));
	if (argc == 6 && strcmp(argv[1], "--flood-rate") == 0)
		return flood(strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10), argv[4], strtoul(argv[5], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "--flood-names") == 0)
		return flood_names(strtol(argv[2], NULL, 10), argv[3], strtoul(argv[4], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "--getppid") == 0)
		return getppid_loop(strtol(argv[2], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "--race") == 0)
		return race(strtol(argv[2], NULL, 10), argv[3], argv[4]);
	for (;;) {
		if (argc > first + 1 && strcmp(argv[first], "--uid") == 0)
			drop_to(argv[first + 1]);
		else if (argc > first + 1 && strcmp(argv[first], "--linger") == 0)
			linger_ms = strtol(argv[first + 1], NULL, 10);
		else if (argc > first && strcmp(argv[first], "--unlink-self") == 0) {
			unlink_self();
			first -= 1;
		} else if (argc > first && strcmp(argv[first], "--unmap-args") == 0) {
			unmap_args();
			first -= 1;
		} else
			break;
		first += 2;
	}
	if (argc - first < 2 || (argc - first) % 2) {
		fprintf(stderr, "usage: dm_call [--uid UID] [--linger MS] [--unlink-self] [--unmap-args] NAME FLAGS [NAME FLAGS ...]\n");
		return 2;
	}
	for (int i = first; i + 1 < argc; i += 2) {
		unsigned char *buf = malloc(NAME_CAP);
		const char *ptr = name_pointer(argv[i], buf);
		unsigned int flags = strtoul(argv[i + 1], NULL, 10);
		long ret = delete_module(ptr, flags);

		printf("{\"pid\":%d,\"tid\":%ld,\"uid\":%u,\"name_ptr\":\"%llu\",\"flags\":%u,\"ret\":%ld,",
		       getpid(), (long)syscall(SYS_gettid), getuid(), (unsigned long long)(uintptr_t)ptr,
		       flags, ret);
		print_context();
		printf("}\n");
		free(buf);
	}
	fflush(stdout);
	usleep(linger_ms * 1000);
	return 0;
}
