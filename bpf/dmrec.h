/* The one definition of what the kernel side shares with user space, used by
 * dmrec.bpf.c and mirrored in src/kernel/layout.ts, which
 * test/unit/event_layout.test.ts checks against the object's BTF. Every field
 * is naturally aligned and padding is explicit, so the layout is the same for
 * BPF and for any 64-bit user space. Includers provide the __u8..__s64 types. */
#ifndef DMREC_H
#define DMREC_H

/* Bytes kept of a name read from user memory, NUL included. The kernel itself
 * keeps at most 55 (MODULE_NAME_LEN - 1); reading further shows what the
 * caller really passed. */
#define DMREC_NAME_BUF 128
#define DMREC_COMM_LEN 16
/* The kernel's own copy of a name: MODULE_NAME_LEN on 64-bit, NUL included. */
#define DMREC_KNAME_LEN 56
/* The leaf name of the task's cgroup (v2), where container runtimes put the
 * container id (docker-<64 hex>.scope). */
#define DMREC_CGROUP_NAME_LEN 128
/* loginuid/sessionid when the kernel has no audit support. */
#define DMREC_UNSET_ID 0xffffffffu
/* Bytes kept of an executable's path; its walk goes up at most
 * DMREC_PATH_DEPTH names and mounts. */
#define DMREC_PATH_BUF 256
#define DMREC_PATH_DEPTH 32
/* Bytes kept of the command line (the task's argument area: its arguments,
 * each NUL-terminated), and of the controlling terminal's name. */
#define DMREC_ARGV_BUF 256
#define DMREC_TTY_LEN 64
/* Room after a record's fixed part for its variable-length strings. */
#define DMREC_TAIL_MAX (2 * DMREC_NAME_BUF + DMREC_KNAME_LEN + DMREC_CGROUP_NAME_LEN + 2 * DMREC_PATH_BUF + \
			DMREC_ARGV_BUF + DMREC_TTY_LEN)

enum dmrec_hook {
	DMREC_HOOK_KPROBE = 1,
	DMREC_HOOK_TRACEPOINT = 2,
	DMREC_HOOK_RAW_SYSCALLS = 3,
};

/* Indexes into the `counters` array map: calls the kernel side saw but could
 * not report. User space turns increases into loss records. */
enum dmrec_counter {
	DMREC_LOST_RINGBUF = 0,	/* a successful call found both ring buffers full */
	DMREC_LOST_INFLIGHT = 1,	/* no task storage for the call at entry */
	DMREC_LOST_NO_EXIT = 2,		/* a thread entered again before its exit was seen */
	DMREC_COUNTERS = 3,
};

/* Who made a call, read in the kernel when the call becomes an event or the
 * first call of an aggregate. */
struct dmrec_context {
	__u64 cgroup_id;
	__u64 cap_effective;	/* the task's effective capability set */
	__u64 start_boottime;	/* task start, boot clock ns: tells a reused pid apart */
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 loginuid;		/* audit login uid, DMREC_UNSET_ID when unset or unknown */
	__u32 sessionid;	/* audit session id, likewise */
	__u32 mntns;		/* namespace inode numbers, as in /proc/PID/ns/ */
	__u32 pidns;
	__u32 utsns;
	__u32 pad;
	char comm[DMREC_COMM_LEN];
	char parent_comm[DMREC_COMM_LEN];
};

/* dmrec_exe.flags */
enum dmrec_exe_flag {
	DMREC_EXE_NONE = 1,		/* no executable: a kernel thread, or an mm without one */
	DMREC_EXE_DELETED = 2,		/* the file has no links left */
	DMREC_EXE_TRUNCATED = 4,	/* the walk stopped at its bound: the path's start is missing */
	DMREC_EXE_UNREACHABLE = 8,	/* outside the task's root (or on a detached mount): the path runs from its mount tree's root */
};

/* dmrec_event.argv_flags */
enum dmrec_argv_flag {
	DMREC_ARGV_NONE = 1,		/* no argument area: a task without an mm */
	DMREC_ARGV_TRUNCATED = 2,	/* longer than DMREC_ARGV_BUF - 1 bytes: its start is kept */
};

/* The task's executable (mm->exe_file), read in the kernel at the call. Its
 * path is in the record's tail as d_path() walks it, leaf first: each name
 * followed by '/' ("kmod/bin/usr/" for /usr/bin/kmod). */
struct dmrec_exe {
	__u64 ino;
	__u32 dev;		/* the kernel's dev_t: major << 20 | minor */
	__u16 path_len;		/* bytes in the tail */
	__u8 flags;		/* enum dmrec_exe_flag */
	__u8 pad;
};

/* One delete_module call, entry and exit joined: a ring-buffer record of
 * `DMREC_EVENT_FIXED + the eight lengths` bytes, whose tail holds, packed in
 * this order, the name read at entry, the name read at exit, the kernel's
 * copy, the cgroup name, each without its NUL, the paths of the executable
 * and of the parent's, the argument area as read (arguments NUL-terminated)
 * and the controlling terminal's name without its NUL. */
struct dmrec_event {
	__u64 boot_ns;		/* bpf_ktime_get_boot_ns() at entry */
	__u64 duration_ns;
	__u64 name_ptr;		/* the user pointer, as passed */
	__s64 ret;
	__u32 flags;
	__s32 name_entry_err;	/* 0, or the -errno of the read at entry */
	__s32 name_exit_err;
	__u16 name_entry_len;	/* bytes in the tail */
	__u16 name_exit_len;
	__u16 name_kernel_len;
	__u16 cgroup_name_len;
	__u8 hook;		/* enum dmrec_hook */
	__u8 freed;		/* module:module_free fired on this thread during the call */
	__u8 name_kernel_seen;	/* the tail holds the kernel's copy */
	__u8 pad[9];
	struct dmrec_exe exe;
	struct dmrec_exe parent_exe;
	__s32 argv_err;		/* 0, or the -errno of the argument area's read */
	__u16 argv_len;
	__u16 tty_len;		/* 0: no controlling terminal */
	__u8 argv_flags;	/* enum dmrec_argv_flag */
	__u8 pad2[7];
	struct dmrec_context ctx;
	__u8 tail[DMREC_TAIL_MAX];
};

#define DMREC_EVENT_FIXED (sizeof(struct dmrec_event) - DMREC_TAIL_MAX)

/* What the kernel side knows between entry and exit, in the thread's task
 * storage. */
struct dmrec_inflight {
	__u64 boot_ns;
	__u64 name_ptr;
	__u32 flags;
	__s32 name_entry_err;
	__u16 name_entry_len;
	__u16 name_kernel_len;
	__u8 hook;
	__u8 freed;
	__u8 name_kernel_seen;
	__u8 active;		/* entered, exit not seen yet */
	__u8 name_entry[DMREC_NAME_BUF];
	/* DMREC_KNAME_LEN bytes used; as long as name_entry, so that the two
	 * compare word by word under one bound */
	__u8 name_kernel[DMREC_NAME_BUF];
};

/* The budget of individual events for failing calls, per harvest period, and
 * which half of the double-buffered aggregate maps the kernel side fills.
 * User space writes it; a limit of 0 means none. */
struct dmrec_control {
	__u32 gen;
	__u32 budget_key;
	__u32 budget_process;
	__u32 budget_global;
	__u32 budget_toctou_process;
	__u32 budget_toctou_global;
};

/* A failing call's aggregation key: the process, the result, the name (by a
 * hash of the bytes read, entry's if it was read, else exit's) and how the
 * reads went. */
struct dmrec_agg_key {
	__u64 name_hash;
	__u32 pid;
	__s16 ret;		/* -4095..0: every errno fits */
	__u8 reads;		/* bit 0: the entry read succeeded, bit 1: the exit read */
	__u8 toctou;
};

/* Calls of one key in one period: how many went out as events (the key's
 * budget), how many were aggregated, and the first aggregated call whole. */
struct dmrec_agg {
	__u64 count;
	__u64 first_ns;		/* boot clock at the entry of the first and last aggregated call */
	__u64 last_ns;
	__u32 events;
	__u32 pad;
	struct dmrec_event first;
};

/* Where calls land once the key map is full: per process and result. */
struct dmrec_proc_key {
	__u32 pid;
	__s32 ret;
};

struct dmrec_proc_agg {
	__u64 count;
	__u64 first_ns;
	__u64 last_ns;
	__u8 hook;
	__u8 pad[5];
	__u16 cgroup_name_len;
	struct dmrec_context ctx;
	char cgroup_name[DMREC_CGROUP_NAME_LEN];
};

/* Per-process budget use in one period; `keys` bounds the entries one
 * process may take in the key map, so that a process inventing a new name
 * per call cannot push everyone else's calls out of it. */
struct dmrec_proc_budget {
	__u32 events;
	__u32 toctou_events;
	__u32 keys;
};

/* Per period, across all processes: budget use, and the calls that found
 * even the per-process map full. */
struct dmrec_totals {
	__u64 events;
	__u64 toctou_events;
	__u64 overflow_count;
	__u64 overflow_first_ns;
	__u64 overflow_last_ns;
};

#endif /* DMREC_H */
