/* The one definition of what the kernel side hands to user space, shared by
 * dmrec.bpf.c and (through test/unit/event_layout.test.ts, which checks it
 * against the object's BTF) src/kernel/event_layout.ts. Every field is naturally
 * aligned and padding is explicit, so the layout is the same for BPF and
 * for any 64-bit user space. Includers provide the __u8..__s64 types. */
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

enum dmrec_hook {
	DMREC_HOOK_KPROBE = 1,
	DMREC_HOOK_TRACEPOINT = 2,
	DMREC_HOOK_RAW_SYSCALLS = 3,
};

/* Indexes into the `counters` array map: calls the kernel side saw but could
 * not report. User space turns increases into loss records. */
enum dmrec_counter {
	DMREC_LOST_RINGBUF = 0,	/* ring buffer full at exit */
	DMREC_LOST_INFLIGHT = 1,	/* in-flight map full at entry */
	DMREC_LOST_NO_EXIT = 2,		/* a thread entered again before its exit was seen */
	DMREC_COUNTERS = 3,
};

/* One delete_module call, emitted at exit with entry and exit joined. */
struct dmrec_event {
	__u64 boot_ns;		/* bpf_ktime_get_boot_ns() at entry */
	__u64 duration_ns;
	__u64 name_ptr;		/* the user pointer, as passed */
	__u64 cgroup_id;
	__s64 ret;
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 flags;
	__s32 name_entry_err;	/* 0, or the -errno of the read at entry */
	__s32 name_exit_err;
	__u16 name_entry_len;	/* bytes before the NUL */
	__u16 name_exit_len;
	__u8 hook;		/* enum dmrec_hook */
	__u8 freed;		/* module:module_free fired on this thread during the call */
	__u8 name_kernel_seen;	/* name_kernel holds the kernel's copy */
	__u8 pad;
	__u16 name_kernel_len;	/* bytes before the NUL */
	__u8 pad2[2];
	char comm[DMREC_COMM_LEN];
	__u8 name_entry[DMREC_NAME_BUF];
	__u8 name_exit[DMREC_NAME_BUF];
	char name_kernel[DMREC_KNAME_LEN];
	__u64 cap_effective;	/* the task's effective capability set */
	__u64 start_boottime;	/* task start, boot clock ns: tells a reused pid apart */
	__u32 loginuid;		/* audit login uid, DMREC_UNSET_ID when unset or unknown */
	__u32 sessionid;	/* audit session id, likewise */
	__u32 mntns;		/* namespace inode numbers, as in /proc/PID/ns/ */
	__u32 pidns;
	__u32 utsns;
	__u32 pad3;
	char parent_comm[DMREC_COMM_LEN];
	char cgroup_name[DMREC_CGROUP_NAME_LEN];
};

#endif /* DMREC_H */
