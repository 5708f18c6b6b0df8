// SPDX-License-Identifier: GPL-2.0
/* Kernel side of dmrec: every delete_module call, entry and exit joined per
 * thread, ends in exactly one of an event, an aggregate count or a loss
 * counter. Successful calls always become events, on a ring buffer of their
 * own that no flood of failing calls can fill. Failing calls become events
 * within a budget (per call key, per process, across all; TOCTOU calls have
 * budgets of their own); beyond it they are counted exactly in aggregate
 * maps, which user space harvests each period: it flips `control.gen`, waits
 * for running programs, and drains the half no longer written.
 *
 * Each hook is a thin pair of programs around on_enter()/on_exit(); user space
 * enables only the pair it uses. The entry program only reads the name; the
 * process context is read at exit, and only for calls that become events or
 * start an aggregate. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "dmrec.h"

/* The syscall's number, and where a syscall's exit finds the number it had. */
#if defined(__TARGET_ARCH_x86)
#define DELETE_MODULE_NR 176
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define DELETE_MODULE_NR 106
#define SYSCALL_NR(regs) ((regs)->syscallno)
#else
#error "dmrec: delete_module syscall number unknown for this architecture"
#endif

#define EEXIST 17
/* Failing-call events wake the consumer only when this much comes to wait:
 * it polls on its own every 100 ms. */
#define WAKEUP_BYTES (512 << 10)
#define KEYS_MAX 2048
#define PROCS_MAX 2048
#define BUDGETS_MAX 4096
/* Entries of the key map one process may take per period. */
#define KEYS_PER_PROCESS 128

char LICENSE[] SEC("license") = "GPL";

/* Failing calls' events: about 28,000 records of 300 bytes, 70 ms at 400,000
 * a second, for the consumer's pauses (a segment's compression and fsync). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Successful calls' events: no failing call ever writes here. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} events_ok SEC(".maps");

/* Calls between entry and exit: task storage needs no lookup by key, no
 * insert and no delete per call, and cannot fill up. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dmrec_inflight);
} inflight SEC(".maps");

/* Records are built here, off the 512-byte BPF stack, with the exit read. */
struct exit_scratch {
	struct dmrec_event ev;
	struct dmrec_agg agg;
	struct dmrec_proc_agg proc;
	__u8 name_exit[DMREC_NAME_BUF];
	__u8 argv[DMREC_ARGV_BUF];
	char tty[DMREC_TTY_LEN];
	__s32 exit_err;
	__u16 exit_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exit_scratch);
} exit_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DMREC_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dmrec_control);
} control SEC(".maps");

/* Per generation: budget use across all processes, and the last counter. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct dmrec_totals);
} totals SEC(".maps");

/* A double-buffered hash map: halves name0 and name1, and `name` over them,
 * of which [gen] is written and the other half is user space's. */
#define DOUBLE_BUFFERED(name, key_type, value_type, max)			\
	struct name##_map {							\
		__uint(type, BPF_MAP_TYPE_HASH);				\
		__uint(max_entries, max);					\
		__type(key, key_type);						\
		__type(value, value_type);					\
	} name##0 SEC(".maps"), name##1 SEC(".maps");				\
	struct {								\
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);			\
		__uint(max_entries, 2);						\
		__type(key, __u32);						\
		__array(values, struct name##_map);				\
	} name SEC(".maps") = { .values = { &name##0, &name##1 } }

DOUBLE_BUFFERED(keys, struct dmrec_agg_key, struct dmrec_agg, KEYS_MAX);
DOUBLE_BUFFERED(procs, struct dmrec_proc_key, struct dmrec_proc_agg, PROCS_MAX);
DOUBLE_BUFFERED(budgets, __u32, struct dmrec_proc_budget, BUDGETS_MAX);

static __always_inline void count_loss(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The task's pid namespace (as /proc/PID/ns/pid): numbers[level] of its pid. */
static __always_inline __u32 pid_ns_inum(struct task_struct *task)
{
	struct pid *pid = task->thread_pid;
	unsigned int level = pid->level;
	struct upid upid = {};

	if (level > 32)
		return 0;
	bpf_probe_read_kernel(&upid, sizeof(upid),
			      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
				      level * sizeof(struct upid));
	return BPF_CORE_READ(upid.ns, ns.inum);
}

/* Reads through BTF-typed pointers where it can: plain loads, no helper call.
 * Not inlined, like fill_event(): one copy of the code keeps the program
 * small, and its verification (the record's start-up time) short. */
static __noinline __u16 read_context(struct dmrec_context *c, char *cgroup_name)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *parent = task->real_parent;
	const struct cred *cred = task->cred;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();
	long n;

	c->pid = id >> 32;
	c->tid = (__u32)id;
	c->uid = (__u32)ugid;
	c->gid = ugid >> 32;
	c->cgroup_id = bpf_get_current_cgroup_id();
	c->ppid = parent->tgid;
	c->euid = cred->euid.val;
	/* The whole 8 bytes, not a member: 6.1 names them cap[2], 6.3+ val. */
	bpf_core_read(&c->cap_effective, sizeof(c->cap_effective), &cred->cap_effective);
	c->start_boottime = task->start_boottime;
	if (bpf_core_field_exists(task->loginuid)) {
		c->loginuid = task->loginuid.val;
		c->sessionid = task->sessionid;
	} else {
		c->loginuid = DMREC_UNSET_ID;
		c->sessionid = DMREC_UNSET_ID;
	}
	c->mntns = task->nsproxy->mnt_ns->ns.inum;
	c->utsns = task->nsproxy->uts_ns->ns.inum;
	c->pidns = pid_ns_inum(task);
	bpf_get_current_comm(c->comm, sizeof(c->comm));
	bpf_probe_read_kernel_str(c->parent_comm, sizeof(c->parent_comm), parent->comm);
	n = bpf_probe_read_kernel_str(cgroup_name, DMREC_CGROUP_NAME_LEN, task->cgroups->dfl_cgrp->kn->name);
	return n > 0 ? n - 1 : 0;
}

/* An executable's path as last walked for a task, and what it was walked
 * from: kept while the task's executable file, that file's own name and
 * directory, and the task's root stay the same, so that a flood of calls pays
 * for one walk. */
struct exe_cache {
	__u64 file;
	__u64 leaf_parent;
	__u64 leaf_name;
	__u64 root;
	struct dmrec_exe exe;
	/* twice the path's room: a name written at any offset within it stays inside */
	__u8 path[2 * DMREC_PATH_BUF];
};

/* Per task: its executable's and its parent's. */
struct task_images {
	struct exe_cache self;
	struct exe_cache parent;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_images);
} images SEC(".maps");

/* Where the walk of a path is (read_exe), between steps of bpf_loop(), whose
 * callback the verifier checks once rather than once per step and branch. */
struct path_walk {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	struct dentry *root_d;
	struct vfsmount *root_m;
	__u32 off;
	__u8 flags;
	__u8 done;
	__u8 parent;		/* into the current task's images.parent, else .self */
};

static __always_inline struct mount *mount_of(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

/* One step up: a name (into the cache's path buffer, each followed by '/')
 * or a mount crossed. Returns 1 to stop. */
static long path_step(__u64 i, struct path_walk *w)
{
	struct task_images *ti = bpf_task_storage_get(&images, bpf_get_current_task_btf(), 0, 0);
	/* Locals: a CO-RE read through w-> would relocate path_walk too. */
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m, *parent;
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	__u8 *buf;
	__u32 len;

	if (!ti || (d == w->root_d && vm == w->root_m)) {
		w->done = 1;
		return 1;
	}
	buf = w->parent ? ti->parent.path : ti->self.path;
	if (d == mnt_root || d == BPF_CORE_READ(d, d_parent)) {
		parent = BPF_CORE_READ(m, mnt_parent);
		/* A mount's root that is not the task's, with no mount above:
		 * the top of another tree (outside a chroot, or detached). */
		if (d != mnt_root || parent == m) {
			w->flags |= DMREC_EXE_UNREACHABLE;
			w->done = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = parent;
		w->vm = (struct vfsmount *)((void *)parent + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	len = BPF_CORE_READ(d, d_name.len);
	if (w->off + len + 1 > DMREC_PATH_BUF - 1)
		return 1;
	bpf_probe_read_kernel(buf + (w->off & (DMREC_PATH_BUF - 1)), len & (DMREC_PATH_BUF - 1),
			      BPF_CORE_READ(d, d_name.name));
	w->off += len & (DMREC_PATH_BUF - 1);
	buf[w->off & (2 * DMREC_PATH_BUF - 1)] = '/';
	w->off++;
	w->d = BPF_CORE_READ(d, d_parent);
	return 0;
}

/* The executable of `task` (the current task, or its parent): inode, device
 * and path (see struct dmrec_exe), the path walked as d_path() does up to the
 * task's root into `c`, unless `c` holds it already. Returns the path's length
 * in c->path. Probe reads throughout: the walk leaves BTF-typed pointers at
 * the first mount it crosses. */
static __noinline __u32 read_exe(struct dmrec_exe *x, struct task_struct *task, struct exe_cache *c, __u8 parent)
{
	/* BTF-typed loads up to the cache's check: plain loads, no helper call
	 * (a NULL on the way reads as 0). */
	struct file *f = task->mm->exe_file;
	struct inode *inode = f->f_inode;
	struct dentry *leaf = f->f_path.dentry;
	struct dentry *root = task->fs->root.dentry;
	struct path_walk w = {};
	__u8 deleted;

	if (!f) {
		x->ino = 0;
		x->dev = 0;
		x->flags = DMREC_EXE_NONE;
		c->file = 0;
		return 0;
	}
	deleted = inode->i_nlink == 0 ? DMREC_EXE_DELETED : 0;
	if (c->file == (__u64)f && c->leaf_parent == (__u64)leaf->d_parent && c->leaf_name == (__u64)leaf->d_name.name &&
	    c->root == (__u64)root) {
		x->ino = c->exe.ino;
		x->dev = c->exe.dev;
		x->flags = (c->exe.flags & ~DMREC_EXE_DELETED) | deleted;
		return c->exe.path_len;
	}
	x->ino = inode->i_ino;
	x->dev = inode->i_sb->s_dev;
	w.d = leaf;
	w.vm = f->f_path.mnt;
	w.m = mount_of(w.vm);
	w.root_d = root;
	w.root_m = task->fs->root.mnt;
	w.parent = parent;
	bpf_loop(DMREC_PATH_DEPTH, path_step, &w, 0);
	x->flags = w.flags | (w.done ? 0 : DMREC_EXE_TRUNCATED) | deleted;
	x->path_len = w.off & (DMREC_PATH_BUF - 1);
	c->exe = *x;
	c->file = (__u64)f;
	c->leaf_parent = (__u64)leaf->d_parent;
	c->leaf_name = (__u64)leaf->d_name.name;
	c->root = (__u64)root;
	return x->path_len;
}

/* The start of the task's argument area (its arguments, NUL-terminated, as
 * /proc/PID/cmdline has them) into the scratch; a failed read is kept as its
 * -errno. Returns the bytes read. */
static __noinline __u32 read_argv(struct dmrec_event *e, struct exit_scratch *s, struct task_struct *task)
{
	struct mm_struct *mm = task->mm;
	unsigned long start, end;
	__u32 len;
	long err;

	e->argv_err = 0;
	e->argv_flags = 0;
	if (!mm) {
		e->argv_flags = DMREC_ARGV_NONE;
		return 0;
	}
	start = mm->arg_start;
	end = mm->arg_end;
	if (end <= start)
		return 0;
	if (end - start > DMREC_ARGV_BUF - 1) {
		e->argv_flags = DMREC_ARGV_TRUNCATED;
		len = DMREC_ARGV_BUF - 1;
	} else {
		len = end - start;
	}
	err = bpf_probe_read_user(s->argv, len & (DMREC_ARGV_BUF - 1), (const void *)start);
	if (err < 0) {
		e->argv_err = err;
		return 0;
	}
	return len & (DMREC_ARGV_BUF - 1);
}

/* The controlling terminal's name ("pts/0"), or none. */
static __always_inline __u32 read_tty(struct exit_scratch *s, struct task_struct *task)
{
	struct tty_struct *tty = task->signal->tty;
	long n;

	if (!tty)
		return 0;
	n = bpf_probe_read_kernel_str(s->tty, DMREC_TTY_LEN, &tty->name);
	return n > 1 ? n - 1 : 0;
}

/* A failed read is kept as its -errno, never as an empty name. */
static __always_inline void read_name(__u8 *buf, __s32 *err, __u16 *len, __u64 ptr)
{
	long n = bpf_probe_read_user_str(buf, DMREC_NAME_BUF, (const void *)ptr);

	if (n < 0) {
		*err = n;
		*len = 0;
	} else {
		*err = 0;
		*len = n > 0 ? n - 1 : 0;
	}
}

/* Names are compared and hashed as 64-bit words up to their length: the word
 * holding the end keeps only its bytes before it, so whatever the buffer held
 * past the NUL never counts and no buffer needs clearing first. */
static __always_inline __u32 words_of(__u32 len)
{
	__u32 words = (len >> 3) + 1;

	/* Opaque to the compiler, so that it keeps the loops' own bounds,
	 * which are what the verifier can follow. */
	barrier_var(words);
	return words;
}

/* Word i of a name of `len` bytes, bytes past the name cleared. The index is
 * masked for the verifier, which loses the loop's bound once the compiler
 * has turned it into pointer steps; buffers are whole powers of two words. */
static __always_inline __u64 name_word(const __u8 *buf, int i, __u32 len)
{
	int at = i;
	__u64 w;

	/* Opaque, or the compiler drops the mask it can prove redundant. */
	barrier_var(at);
	w = ((const __u64 *)buf)[at & (DMREC_NAME_BUF / 8 - 1)];

	if (i == len >> 3)
		w &= (1ULL << ((len & 7) * 8)) - 1;
	return w;
}

static __always_inline bool names_differ(const __u8 *a, __u16 alen, const __u8 *b, __u16 blen)
{
	__u32 words = words_of(alen);

	if (alen != blen)
		return true;
	for (int i = 0; i < DMREC_NAME_BUF / 8; i++) {
		if (i >= words)
			break;
		if (name_word(a, i, alen) != name_word(b, i, alen))
			return true;
	}
	return false;
}

/* The first 55 bytes of a user read against the kernel's copy, which keeps no
 * more (strncpy_from_user(name, user, MODULE_NAME_LEN - 1)): a long name the
 * kernel truncated is not a TOCTOU by itself. */
static __always_inline bool differs_from_kernel(const __u8 *user, __u16 ulen, const __u8 *kernel, __u16 klen)
{
	__u32 kept = ulen < DMREC_KNAME_LEN - 1 ? ulen : DMREC_KNAME_LEN - 1;
	__u32 words = words_of(kept);

	if (klen != kept)
		return true;
	for (int i = 0; i < DMREC_KNAME_LEN / 8; i++) {
		if (i >= words)
			break;
		if (name_word(user, i, kept) != name_word(kernel, i, kept))
			return true;
	}
	return false;
}

static __always_inline __u64 name_hash(const __u8 *buf, __u16 len)
{
	__u32 words = words_of(len);
	__u64 h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < DMREC_NAME_BUF / 8; i++) {
		if (i >= words)
			break;
		h = (h ^ name_word(buf, i, len)) * 0x100000001b3ULL;
	}
	return h;
}

static __always_inline int on_enter(__u64 name_ptr, __u32 flags, __u8 hook)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dmrec_inflight *in =
		bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!in) {
		count_loss(DMREC_LOST_INFLIGHT);
		return 0;
	}
	/* The same thread entering again means its last exit was never seen
	 * (a missed kretprobe): that call is lost, and counted. */
	if (in->active)
		count_loss(DMREC_LOST_NO_EXIT);
	in->boot_ns = bpf_ktime_get_boot_ns();
	in->name_ptr = name_ptr;
	in->flags = flags;
	in->hook = hook;
	in->freed = 0;
	in->name_kernel_seen = 0;
	in->name_kernel_len = 0;
	read_name(in->name_entry, &in->name_entry_err, &in->name_entry_len, name_ptr);
	in->active = 1;
	return 0;
}

/* The thread's call in flight, or NULL. */
static __always_inline struct dmrec_inflight *current_call(void)
{
	struct dmrec_inflight *in = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);

	return in && in->active ? in : 0;
}

/* The call as a record: fixed part, context, then the packed tail. Returns
 * the record's size. */
__noinline __u32 fill_event(struct dmrec_event *e, const struct dmrec_inflight *in,
			    struct exit_scratch *s, long ret)
{
	__u32 entry_len;

	if (!e || !in || !s)
		return 0;
	entry_len = in->name_entry_len & (DMREC_NAME_BUF - 1);
	__u32 exit_len = s->exit_len;
	__u32 kernel_len = in->name_kernel_seen ? in->name_kernel_len : 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_images *ti;
	__u32 off, path_len, len;

	/* Bounds the verifier can follow: 55 is not a mask. */
	if (kernel_len > DMREC_KNAME_LEN - 1)
		kernel_len = DMREC_KNAME_LEN - 1;
	exit_len &= DMREC_NAME_BUF - 1;
	e->boot_ns = in->boot_ns;
	/* The exit time is only read for calls that become records. */
	e->duration_ns = bpf_ktime_get_boot_ns() - in->boot_ns;
	e->name_ptr = in->name_ptr;
	e->ret = ret;
	e->flags = in->flags;
	e->name_entry_err = in->name_entry_err;
	e->name_exit_err = s->exit_err;
	e->name_entry_len = entry_len;
	e->name_exit_len = exit_len;
	e->name_kernel_len = kernel_len;
	e->hook = in->hook;
	e->freed = in->freed;
	e->name_kernel_seen = in->name_kernel_seen;
	bpf_probe_read_kernel(e->tail, entry_len, in->name_entry);
	off = entry_len;
	bpf_probe_read_kernel(e->tail + off, exit_len, s->name_exit);
	off += exit_len;
	bpf_probe_read_kernel(e->tail + off, kernel_len, in->name_kernel);
	off += kernel_len;
	e->cgroup_name_len = read_context(&e->ctx, (char *)e->tail + off) & (DMREC_CGROUP_NAME_LEN - 1);
	off += e->cgroup_name_len;
	ti = bpf_task_storage_get(&images, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ti) {
		path_len = read_exe(&e->exe, task, &ti->self, 0) & (DMREC_PATH_BUF - 1);
		e->exe.path_len = path_len;
		bpf_probe_read_kernel(e->tail + off, path_len, ti->self.path);
		off += path_len;
		path_len = read_exe(&e->parent_exe, task->real_parent, &ti->parent, 1) & (DMREC_PATH_BUF - 1);
		e->parent_exe.path_len = path_len;
		bpf_probe_read_kernel(e->tail + off, path_len, ti->parent.path);
		off += path_len;
	} else {
		/* No storage (memory): nothing known of either, said so. */
		e->exe = (struct dmrec_exe){ .flags = DMREC_EXE_NONE };
		e->parent_exe = (struct dmrec_exe){ .flags = DMREC_EXE_NONE };
	}
	len = read_argv(e, s, task) & (DMREC_ARGV_BUF - 1);
	e->argv_len = len;
	bpf_probe_read_kernel(e->tail + off, len, s->argv);
	off += len;
	len = read_tty(s, task) & (DMREC_TTY_LEN - 1);
	e->tty_len = len;
	bpf_probe_read_kernel(e->tail + off, len, s->tty);
	off += len;
	return DMREC_EVENT_FIXED + off;
}

static __always_inline bool emit(void *ring, struct dmrec_event *e, __u32 size, __u64 flags)
{
	if (size > sizeof(*e))
		size = sizeof(*e);
	return bpf_ringbuf_output(ring, e, size, flags) == 0;
}

/* Takes one unit of a budget; a limit of 0 is no limit. */
static __always_inline bool take(__u64 *used, __u32 limit)
{
	return !limit || __sync_fetch_and_add(used, 1) < limit;
}

static __always_inline bool take32(__u32 *used, __u32 limit)
{
	return !limit || __sync_fetch_and_add(used, 1) < limit;
}

/* The process's budget use this period, or NULL when the map is full: the
 * process then has no budget of its own. */
static __always_inline struct dmrec_proc_budget *proc_budget(void *budget_map, __u32 pid)
{
	struct dmrec_proc_budget fresh = {}, *b = bpf_map_lookup_elem(budget_map, &pid);

	if (!b) {
		bpf_map_update_elem(budget_map, &pid, &fresh, BPF_NOEXIST);
		b = bpf_map_lookup_elem(budget_map, &pid);
	}
	return b;
}

/* The per-process and global budgets, TOCTOU calls drawing on their own. */
static __always_inline bool within_budget(const struct dmrec_control *c, struct dmrec_proc_budget *b,
					  struct dmrec_totals *t, bool toctou)
{
	if (!b)
		return false;
	if (toctou)
		return take32(&b->toctou_events, c->budget_toctou_process) &&
		       take(&t->toctou_events, c->budget_toctou_global);
	return take32(&b->events, c->budget_process) && take(&t->events, c->budget_global);
}

/* One more aggregated call of a key; the first of them is kept whole. */
static __always_inline void count_call(struct dmrec_agg *a, struct exit_scratch *s,
				       const struct dmrec_inflight *in, __s32 exit_err, __u16 exit_len, long ret)
{
	if (__sync_fetch_and_add(&a->count, 1) == 0) {
		a->first_ns = in->boot_ns;
		fill_event(&a->first, in, s, ret);
	}
	a->last_ns = in->boot_ns;
}

/* Counts a call that got no event, at the finest level that has room. */
static __always_inline void aggregate(struct exit_scratch *s, void *keys_map, void *procs_map,
				      struct dmrec_totals *t, struct dmrec_proc_budget *b,
				      const struct dmrec_agg_key *k, const struct dmrec_inflight *in,
				      __s32 exit_err, __u16 exit_len, long ret)
{
	struct dmrec_agg *a = bpf_map_lookup_elem(keys_map, k);
	struct dmrec_proc_key pk = { .pid = k->pid, .ret = k->ret };
	struct dmrec_proc_agg *p;

	if (!a && b && take32(&b->keys, KEYS_PER_PROCESS)) {
		s->agg.count = 1;
		s->agg.first_ns = in->boot_ns;
		s->agg.last_ns = in->boot_ns;
		s->agg.events = 0;
		fill_event(&s->agg.first, in, s, ret);
		if (bpf_map_update_elem(keys_map, k, &s->agg, BPF_NOEXIST) == 0)
			return;
		a = bpf_map_lookup_elem(keys_map, k);
	}
	if (a) {
		count_call(a, s, in, exit_err, exit_len, ret);
		return;
	}

	p = bpf_map_lookup_elem(procs_map, &pk);
	if (!p) {
		s->proc.count = 1;
		s->proc.first_ns = in->boot_ns;
		s->proc.last_ns = in->boot_ns;
		s->proc.hook = in->hook;
		s->proc.cgroup_name_len = read_context(&s->proc.ctx, s->proc.cgroup_name);
		if (bpf_map_update_elem(procs_map, &pk, &s->proc, BPF_NOEXIST) == 0)
			return;
		p = bpf_map_lookup_elem(procs_map, &pk);
	}
	if (p) {
		__sync_fetch_and_add(&p->count, 1);
		p->last_ns = in->boot_ns;
		return;
	}

	if (__sync_fetch_and_add(&t->overflow_count, 1) == 0)
		t->overflow_first_ns = in->boot_ns;
	t->overflow_last_ns = in->boot_ns;
}

static __always_inline void on_failure(struct exit_scratch *s, const struct dmrec_inflight *in, __u32 pid,
				       __s32 exit_err, __u16 exit_len, long ret)
{
	__u32 zero = 0, gen;
	struct dmrec_control *c = bpf_map_lookup_elem(&control, &zero);
	void *keys_map, *procs_map, *budget_map;
	struct dmrec_proc_budget *b;
	struct dmrec_totals *t;
	struct dmrec_agg *a;
	bool entry_ok = in->name_entry_err == 0, exit_ok = exit_err == 0;
	struct dmrec_agg_key k = {
		.pid = pid,
		.ret = ret,
		.reads = entry_ok | exit_ok << 1,
	};

	if (!c)
		return;
	gen = c->gen & 1;
	keys_map = bpf_map_lookup_elem(&keys, &gen);
	if (!keys_map)
		return;
	k.toctou = (entry_ok && exit_ok && names_differ(in->name_entry, in->name_entry_len, s->name_exit, exit_len)) ||
		   (in->name_kernel_seen &&
		    ((entry_ok && differs_from_kernel(in->name_entry, in->name_entry_len, in->name_kernel, in->name_kernel_len)) ||
		     (exit_ok && differs_from_kernel(s->name_exit, exit_len, in->name_kernel, in->name_kernel_len))));
	k.name_hash = entry_ok ? name_hash(in->name_entry, in->name_entry_len) :
		      exit_ok  ? name_hash(s->name_exit, exit_len) : 0;

	a = bpf_map_lookup_elem(keys_map, &k);
	/* The flood's path: a key past its budget only counts. */
	if (a && c->budget_key && a->events >= c->budget_key && !k.toctou) {
		count_call(a, s, in, exit_err, exit_len, ret);
		return;
	}
	procs_map = bpf_map_lookup_elem(&procs, &gen);
	budget_map = bpf_map_lookup_elem(&budgets, &gen);
	t = bpf_map_lookup_elem(&totals, &gen);
	if (!procs_map || !budget_map || !t)
		return;
	b = proc_budget(budget_map, pid);
	/* TOCTOU calls are worth an event whatever their key has had. */
	if (within_budget(c, b, t, k.toctou)) {
		__u32 size = fill_event(&s->ev, in, s, ret);
		__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		/* Only the record that crosses the mark wakes the consumer: a
		 * wakeup is an interrupt, far dearer than the record itself. */
		__u64 flags = waiting < WAKEUP_BYTES && waiting + size >= WAKEUP_BYTES ?
				      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

		/* A full ring aggregates the call instead: counted, not lost. */
		if (emit(&events, &s->ev, size, flags)) {
			if (a) {
				__sync_fetch_and_add(&a->events, 1);
			} else if (b && take32(&b->keys, KEYS_PER_PROCESS)) {
				/* No call aggregated yet: `first` is filled by the first (count_call). */
				s->agg.count = 0;
				s->agg.first_ns = 0;
				s->agg.last_ns = 0;
				s->agg.pad = 0;
				s->agg.events = 1;
				if (bpf_map_update_elem(keys_map, &k, &s->agg, BPF_NOEXIST) == -EEXIST) {
					a = bpf_map_lookup_elem(keys_map, &k);
					if (a)
						__sync_fetch_and_add(&a->events, 1);
				}
			}
			return;
		}
	}
	aggregate(s, keys_map, procs_map, t, b, &k, in, exit_err, exit_len, ret);
}

static __always_inline int on_exit(long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dmrec_inflight *in = bpf_task_storage_get(&inflight, task, 0, 0);
	__u32 zero = 0;
	struct exit_scratch *s;
	__s32 exit_err;
	__u16 exit_len;

	if (!in || !in->active)
		return 0;
	s = bpf_map_lookup_elem(&exit_scratch, &zero);
	if (!s)
		goto done;
	read_name(s->name_exit, &exit_err, &exit_len, in->name_ptr);
	s->exit_err = exit_err;
	s->exit_len = exit_len;
	if (ret == 0) {
		__u32 size = fill_event(&s->ev, in, s, ret);

		if (!emit(&events_ok, &s->ev, size, 0) && !emit(&events, &s->ev, size, BPF_RB_FORCE_WAKEUP))
			count_loss(DMREC_LOST_RINGBUF);
	} else {
		on_failure(s, in, task->tgid, exit_err, exit_len, ret);
	}
done:
	in->active = 0;
	return 0;
}

/* kprobe on the syscall; libbpf resolves the arch prefix (__x64_sys_...). */
SEC("ksyscall/delete_module")
int BPF_KSYSCALL(ksys_enter, const char *name, unsigned int flags)
{
	return on_enter((__u64)name, flags, DMREC_HOOK_KPROBE);
}

SEC("kretsyscall/delete_module")
int BPF_KRETPROBE(ksys_exit, long ret)
{
	return on_exit(ret);
}

/* The syscall's own tracepoints (CONFIG_FTRACE_SYSCALLS). */
SEC("tracepoint/syscalls/sys_enter_delete_module")
int tp_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], (__u32)ctx->args[1], DMREC_HOOK_TRACEPOINT);
}

SEC("tracepoint/syscalls/sys_exit_delete_module")
int tp_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* raw_syscalls: fires for every syscall on the host, even one not compiled in
 * (-ENOSYS), so the test of the syscall number must be all that others pay:
 * BTF-typed arguments make it a plain load. */
SEC("tp_btf/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long id)
{
	if (id != DELETE_MODULE_NR)
		return 0;
	return on_enter(PT_REGS_PARM1(regs), (__u32)PT_REGS_PARM2(regs), DMREC_HOOK_RAW_SYSCALLS);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
	if (SYSCALL_NR(regs) != DELETE_MODULE_NR)
		return 0;
	return on_exit(ret);
}

/* Keeps the kernel's own copy of the name of the call in flight. */
static __always_inline void note_kernel_name(struct dmrec_inflight *in, const char *name)
{
	long n = bpf_probe_read_kernel_str(in->name_kernel, DMREC_KNAME_LEN, name);

	if (n > 0) {
		in->name_kernel_seen = 1;
		in->name_kernel_len = n - 1;
	}
}

/* The kernel's own copy of the name, for calls that fail after copying it
 * (ENOENT, EWOULDBLOCK, EBUSY). find_module is also called from other paths:
 * only a call on a thread inside delete_module counts. */
SEC("kprobe/find_module")
int BPF_KPROBE(find_module_entry, const char *name)
{
	struct dmrec_inflight *in = current_call();

	if (in)
		note_kernel_name(in, name);
	return 0;
}

/* free_module() also runs when a module's init fails during load: only a
 * free on a thread that is inside delete_module belongs to an event. */
SEC("raw_tracepoint/module_free")
int module_free(struct bpf_raw_tracepoint_args *ctx)
{
	struct module *mod = (struct module *)ctx->args[0];
	struct dmrec_inflight *in = current_call();

	if (!in)
		return 0;
	in->freed = 1;
	note_kernel_name(in, mod->name);
	return 0;
}

/* Keeps the shared structs in the object's BTF for the layout test. */
struct dmrec_event dmrec_event_layout __attribute__((unused));
struct dmrec_context dmrec_context_layout __attribute__((unused));
struct dmrec_exe dmrec_exe_layout __attribute__((unused));
