// SPDX-License-Identifier: GPL-2.0
/* Kernel side of dmrec: one event per delete_module call, entry and exit
 * joined per thread. Each hook is a thin pair of programs around
 * on_enter()/on_exit(); user space enables only the pair it uses, so a kernel
 * lacking one hook still loads the rest. module_free, where modules exist,
 * marks the call in flight on the same thread as the one that freed a module. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "dmrec.h"

#if defined(__TARGET_ARCH_x86)
#define DELETE_MODULE_NR 176
#else
#error "dmrec: delete_module syscall number unknown for this architecture"
#endif

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Calls between entry and exit, keyed by pid_tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct dmrec_event);
} inflight SEC(".maps");

/* Builds the entry half off the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dmrec_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DMREC_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The task's pid namespace (as /proc/PID/ns/pid): numbers[level] of its pid. */
static __always_inline __u32 pid_ns_inum(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	if (level > 32)
		return 0;
	bpf_probe_read_kernel(&upid, sizeof(upid),
			      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
				      level * sizeof(struct upid));
	return BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline void read_context(struct dmrec_event *e, struct task_struct *task)
{
	const char *cgroup_name = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	const struct cred *cred = BPF_CORE_READ(task, cred);

	/* The whole 8 bytes, not a member: 6.1 names them cap[2], 6.3+ val. */
	bpf_core_read(&e->cap_effective, sizeof(e->cap_effective), &cred->cap_effective);
	e->start_boottime = BPF_CORE_READ(task, start_boottime);
	if (bpf_core_field_exists(task->loginuid)) {
		e->loginuid = BPF_CORE_READ(task, loginuid.val);
		e->sessionid = BPF_CORE_READ(task, sessionid);
	} else {
		e->loginuid = DMREC_UNSET_ID;
		e->sessionid = DMREC_UNSET_ID;
	}
	e->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->utsns = BPF_CORE_READ(task, nsproxy, uts_ns, ns.inum);
	e->pidns = pid_ns_inum(task);
	BPF_CORE_READ_STR_INTO(&e->parent_comm, task, real_parent, comm);
	if (cgroup_name)
		bpf_probe_read_kernel_str(e->cgroup_name, sizeof(e->cgroup_name), cgroup_name);
}

/* Keeps struct dmrec_event in the object's BTF for the layout test. */
struct dmrec_event dmrec_event_layout __attribute__((unused));

static __always_inline void count_loss(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
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

static __always_inline int on_enter(__u64 name_ptr, __u32 flags, __u8 hook)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0;
	struct dmrec_event *e = bpf_map_lookup_elem(&scratch, &zero);

	if (!e)
		return 0;
	/* The same thread entering again means its last exit was never seen
	 * (a missed kretprobe): that call is lost, and counted. */
	if (bpf_map_lookup_elem(&inflight, &id))
		count_loss(DMREC_LOST_NO_EXIT);
	__builtin_memset(e, 0, sizeof(*e));
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->name_ptr = name_ptr;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->euid = BPF_CORE_READ(task, cred, euid.val);
	e->flags = flags;
	e->hook = hook;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	read_context(e, task);
	read_name(e->name_entry, &e->name_entry_err, &e->name_entry_len, name_ptr);

	if (bpf_map_update_elem(&inflight, &id, e, BPF_ANY))
		count_loss(DMREC_LOST_INFLIGHT);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct dmrec_event *e = bpf_map_lookup_elem(&inflight, &id);

	if (!e)
		return 0;
	e->duration_ns = bpf_ktime_get_boot_ns() - e->boot_ns;
	e->ret = ret;
	read_name(e->name_exit, &e->name_exit_err, &e->name_exit_len, e->name_ptr);
	if (bpf_ringbuf_output(&events, e, sizeof(*e), 0))
		count_loss(DMREC_LOST_RINGBUF);
	bpf_map_delete_elem(&inflight, &id);
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

/* raw_syscalls: fires for every syscall, even one not compiled in (-ENOSYS). */
SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (ctx->args[1] != DELETE_MODULE_NR)
		return 0;
	return on_enter(PT_REGS_PARM1_CORE(regs), (__u32)PT_REGS_PARM2_CORE(regs),
			DMREC_HOOK_RAW_SYSCALLS);
}

SEC("raw_tracepoint/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (BPF_CORE_READ(regs, orig_ax) != DELETE_MODULE_NR)
		return 0;
	return on_exit((long)ctx->args[1]);
}

/* Keeps the kernel's own copy of the name of the call in flight. */
static __always_inline void note_kernel_name(struct dmrec_event *e, const char *name)
{
	long n = bpf_probe_read_kernel_str(e->name_kernel, sizeof(e->name_kernel), name);

	if (n > 0) {
		e->name_kernel_seen = 1;
		e->name_kernel_len = n - 1;
	}
}

/* The kernel's own copy of the name, for calls that fail after copying it
 * (ENOENT, EWOULDBLOCK, EBUSY). find_module is also called from other paths:
 * only a call on a thread inside delete_module counts. */
SEC("kprobe/find_module")
int BPF_KPROBE(find_module_entry, const char *name)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct dmrec_event *e = bpf_map_lookup_elem(&inflight, &id);

	if (e)
		note_kernel_name(e, name);
	return 0;
}

/* free_module() also runs when a module's init fails during load: only a
 * free on a thread that is inside delete_module belongs to an event. */
SEC("raw_tracepoint/module_free")
int module_free(struct bpf_raw_tracepoint_args *ctx)
{
	struct module *mod = (struct module *)ctx->args[0];
	__u64 id = bpf_get_current_pid_tgid();
	struct dmrec_event *e = bpf_map_lookup_elem(&inflight, &id);

	if (!e)
		return 0;
	e->freed = 1;
	note_kernel_name(e, mod->name);
	return 0;
}
