/* Minimal CO-RE view of the kernel types dmrec reads, instead of a full
 * `bpftool btf dump` (135k lines). Field offsets are relocated against the
 * running kernel's BTF by libbpf (preserve_access_index), so only the names
 * and types of the fields used here have to match the kernel's. */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef short unsigned int __u16;
typedef unsigned int __u32;
typedef long long unsigned int __u64;
typedef signed char __s8;
typedef short int __s16;
typedef int __s32;
typedef long long int __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};

enum {
	BPF_F_NO_PREALLOC = 1,
};

enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

/* bpf_ringbuf_output() flags and bpf_ringbuf_query() flags. */
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
};

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#if defined(__TARGET_ARCH_arm64)
/* bpf_tracing.h reads arguments through user_pt_regs; the syscall number is
 * syscallno. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			__u64 regs[31];
			__u64 sp;
			__u64 pc;
			__u64 pstate;
		};
	};
	__u64 orig_x0;
	__s32 syscallno;
};
#else
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx;
	unsigned long r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax;
	unsigned long ip, cs, flags, sp, ss;
};
#endif

typedef struct {
	unsigned int val;
} kuid_t;

/* 6.1 has __u32 cap[2], 6.3+ a u64 val: the same 8 bytes on little-endian,
 * read whole without naming a member. */
typedef struct {
	__u32 cap[2];
} kernel_cap_t;

struct cred {
	kuid_t euid;
	kernel_cap_t cap_effective;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct uts_namespace {
	struct ns_common ns;
};

struct pid_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct mnt_namespace *mnt_ns;
};

struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct kernfs_node {
	const char *name;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

/* The path of a file, as d_path() walks it: names up to a mount's root, then
 * on from where that mount is mounted. */
struct qstr {
	__u32 len;			/* in an anonymous struct, beside the hash */
	const unsigned char *name;
};
struct super_block {
	__u32 s_dev;			/* dev_t: major << 20 | minor */
};
struct inode {
	struct super_block *i_sb;
	unsigned long i_ino;
	unsigned int i_nlink;		/* in an anonymous union */
};
struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
};
struct vfsmount {
	struct dentry *mnt_root;
};
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};
struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};
struct file {
	struct path f_path;
	struct inode *f_inode;
};
struct fs_struct {
	struct path root;
};
struct mm_struct {
	unsigned long arg_start;	/* in an anonymous struct */
	unsigned long arg_end;
	struct file *exe_file;
};
struct tty_struct {
	char name[64];
};
struct signal_struct {
	struct tty_struct *tty;
};
struct task_struct {
	int pid;
	int tgid;
	char comm[16];
	__u64 start_boottime;
	struct task_struct *real_parent;
	const struct cred *cred;
	struct nsproxy *nsproxy;
	struct pid *thread_pid;
	struct css_set *cgroups;
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct signal_struct *signal;
	kuid_t loginuid;		/* CONFIG_AUDIT only */
	unsigned int sessionid;		/* CONFIG_AUDIT only */
};

struct module {
	char name[56];
};

#pragma clang attribute pop

/* Records of the syscalls:sys_{enter,exit}_* tracepoints: a fixed ABI (see
 * their tracefs format files), so no relocation. */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct trace_event_raw_sys_enter {
	struct trace_entry ent;
	long id;
	unsigned long args[6];
};

struct trace_event_raw_sys_exit {
	struct trace_entry ent;
	long id;
	long ret;
};

#endif /* __VMLINUX_H__ */
