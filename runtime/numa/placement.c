/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * placement.c - where the heap's frames live: the memory policy of the
 * memfd behind both views of the heap (hwloc memory binding), first-touch
 * by the faulting thread rather than the runtime, page moves with
 * move_pages(2), their measured cost, and the CPU sets of DSM_BIND.
 */
#include <errno.h>
#include <linux/mempolicy.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <hwloc/glibc-sched.h>

#include "runtime/base/clock.h"
#include "runtime/base/log.h"
#include "runtime/core/rt.h"
#include "runtime/numa/numa_int.h"

/* move_pages(2) has no glibc wrapper; libnuma's would be a dependency for
 * one syscall. */
static long move_pages_sys(unsigned long count, void **pages, const int *nodes, int *status,
			   int flags)
{
	return syscall(SYS_move_pages, 0, count, pages, nodes, status, flags);
}

static int domain_of_os(const struct dsm_numa_topo *t, int os)
{
	for (int i = 0; i < t->ndomains; i++)
		if ((int)t->dom[i].os_index == os)
			return i;
	return -ENOENT;
}

/*
 * The memfd's memory policy, set through the application's view: for a
 * shared memfd the kernel keeps the policy with the file (shmem's shared
 * policy, by page offset), so it holds for frames allocated through
 * either view, by any thread.  Must run before any frame exists.
 */
int dsm_numa_place_heap(struct dsm_numa *n)
{
	struct dsm_heap *h = &n->rt->heap;
	hwloc_membind_policy_t pol;
	const char *what;

	if (n->mode == DSM_NUMA_INTERLEAVE) {
		pol = HWLOC_MEMBIND_INTERLEAVE;
		what = "interleave";
	} else {
		pol = HWLOC_MEMBIND_FIRSTTOUCH;
		what = n->mode == DSM_NUMA_MIGRATE ? "migrate" : "first-touch";
	}
	if (n->topo.ndomains < 2) {
		dsm_info("DSM_NUMA=%s: one NUMA domain, every page is local already", what);
		return 0;
	}
	if (hwloc_set_area_membind(n->topo.topo, h->app, h->size,
				   hwloc_topology_get_topology_nodeset(n->topo.topo), pol,
				   HWLOC_MEMBIND_BYNODESET) < 0) {
		int err = errno;

		dsm_err("DSM_NUMA=%s: cannot set the memory policy of the shared heap: %s",
			what, strerror(err));
		return -err;
	}
	return 0;
}

/*
 * First touch by the faulting thread.  The frames of a page fetched from
 * another node are written by the service thread (the bytes land in the
 * runtime's view), which may run anywhere: touching the page through the
 * runtime's view here, in the faulting thread, allocates its frames (a
 * read fault on a memfd hole allocates) on this thread's domain under the
 * local policy place_heap() set.  Once per page.  Signal context.
 */
void dsm_numa_touch_first(struct dsm_numa *n, size_t page)
{
	uint64_t bit = 1ull << (page & 63), *w = &n->placed[page >> 6];
	volatile const char *p;

	if ((__atomic_load_n(w, __ATOMIC_RELAXED) & bit) ||
	    (__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit))
		return;
	p = dsm_heap_rt_page(&n->rt->heap, page);
	for (size_t i = 0; i < n->sub_pages; i++)
		(void)p[i * n->kpage];
}

int dsm_numa_page_domain(struct dsm_numa *n, size_t page)
{
	struct dsm_heap *h = &n->rt->heap;
	void *addr = dsm_heap_app_page(h, page);
	int status = -ENOENT;

	/* A page closed in the application's view (PROT_NONE, or no page
	 * table entry under userfaultfd) is not found there: ask the
	 * runtime's view, which is always mapped. */
	if (move_pages_sys(1, &addr, NULL, &status, 0) < 0)
		return -errno;
	if (status < 0) {
		addr = dsm_heap_rt_page(h, page);
		if (move_pages_sys(1, &addr, NULL, &status, 0) < 0)
			return -errno;
	}
	return status < 0 ? status : domain_of_os(&n->topo, status);
}

/* Move one kernel page (both views map the same frame).  0 or -errno. */
static int move_one(struct dsm_numa *n, size_t page, size_t sub, int node)
{
	struct dsm_heap *h = &n->rt->heap;
	void *addr = dsm_heap_app_page(h, page) + sub * n->kpage;
	int status = 0;

	if (move_pages_sys(1, &addr, &node, &status, MPOL_MF_MOVE) < 0)
		return -errno;
	if (status == -ENOENT || status == -EFAULT) {
		/* Not mapped in the application's view (closed): through the
		 * runtime's view, mapping it there first. */
		addr = dsm_heap_rt_page(h, page) + sub * n->kpage;
		(void)*(volatile char *)addr;
		if (move_pages_sys(1, &addr, &node, &status, MPOL_MF_MOVE) < 0)
			return -errno;
	}
	if (status == -EACCES) {
		/* Still mapped by both views (the runtime used the page
		 * meanwhile): only MPOL_MF_MOVE_ALL moves a frame mapped twice,
		 * and it needs CAP_SYS_NICE. */
		if (move_pages_sys(1, &addr, &node, &status, MPOL_MF_MOVE_ALL) < 0)
			return -errno;
	}
	return status == node ? 0 : status < 0 ? status : -EAGAIN;
}

/*
 * Move page's frames to domain dom.  Scanner thread, no page lock held:
 * the move is transparent to every thread (the kernel copies the frame
 * and remaps it; a thread touching it meanwhile waits in the kernel).
 * 0 or a negative errno; a partial move is not undone (the next scan
 * sees where the first frame is).
 */
int dsm_numa_move_page(struct dsm_numa *n, size_t page, int dom)
{
	struct dsm_heap *h = &n->rt->heap;
	int node = (int)n->topo.dom[dom].os_index, ret = 0;

	/*
	 * The frame is mapped twice in this process, once per view, and the
	 * kernel moves a frame mapped more than once only with
	 * MPOL_MF_MOVE_ALL (CAP_SYS_NICE).  Drop the runtime's view's
	 * mapping first: the memfd keeps the data, and the runtime's next
	 * access maps it again (a minor fault), so MPOL_MF_MOVE suffices.
	 */
	madvise(dsm_heap_rt_page(h, page), h->page_size, MADV_DONTNEED);
	for (size_t s = 0; s < n->sub_pages && ret == 0; s++)
		ret = move_one(n, page, s, node);
	return ret;
}

/*
 * Move count pages, pages[i] to domain doms[i]: res[i] is 0 or a negative
 * errno.  As dsm_numa_move_page(), with one madvise(2) per run of
 * consecutive pages and one move_pages(2) call for all of them, so that
 * the kernel's TLB shootdowns and the syscalls are shared: under an
 * emulator, or on a busy machine, each costs milliseconds.  A page the
 * batch did not move (closed in the application's view, or mapped twice
 * again meanwhile) is retried alone.  Scanner thread.
 */
void dsm_numa_move_pages(struct dsm_numa *n, const size_t *pages, const int *doms, int *res,
			 size_t count)
{
	struct dsm_heap *h = &n->rt->heap;
	size_t k = 0, nk = count * n->sub_pages, moved_pages = 0;
	uint64_t t0 = dsm_now_ns();
	void **addr = malloc(nk * sizeof(*addr));
	int *nodes = malloc(nk * sizeof(*nodes)), *status = malloc(nk * sizeof(*status));

	for (size_t i = 0, run = 0; i < count; i++) {
		/* drop the runtime's view's mappings: see dsm_numa_move_page() */
		if (i + 1 == count || pages[i + 1] != pages[i] + 1) {
			madvise(dsm_heap_rt_page(h, pages[run]), (pages[i] - pages[run] + 1) * h->page_size,
				MADV_DONTNEED);
			run = i + 1;
		}
	}
	if (addr && nodes && status) {
		for (size_t i = 0; i < count; i++)
			for (size_t sub = 0; sub < n->sub_pages; sub++, k++) {
				addr[k] = dsm_heap_app_page(h, pages[i]) + sub * n->kpage;
				nodes[k] = (int)n->topo.dom[doms[i]].os_index;
				status[k] = -EAGAIN;
			}
		if (move_pages_sys(nk, addr, nodes, status, MPOL_MF_MOVE) < 0)
			for (k = 0; k < nk; k++)
				status[k] = -EAGAIN;
	}
	for (size_t i = 0; i < count; i++) {
		bool moved = addr && nodes && status;

		for (size_t sub = 0; moved && sub < n->sub_pages; sub++)
			moved = status[i * n->sub_pages + sub] == nodes[i * n->sub_pages + sub];
		res[i] = moved ? 0 : dsm_numa_move_page(n, pages[i], doms[i]);
		moved_pages += res[i] == 0;
	}
	free(addr);
	free(nodes);
	free(status);
	dsm_numa_observe_moves(n, dsm_now_ns() - t0, moved_pages);
}

/* Move buf's kernel pages to node; ns taken. */
static uint64_t timed_move(struct dsm_numa *n, char *buf, size_t len, int node)
{
	void *addr[64];
	int nodes[64], status[64];
	uint64_t t0 = dsm_now_ns();

	for (size_t off = 0; off < len;) {
		unsigned long k = 0;

		for (; k < 64 && off < len; k++, off += n->kpage) {
			addr[k] = buf + off;
			nodes[k] = node;
		}
		move_pages_sys(k, addr, nodes, status, MPOL_MF_MOVE);
	}
	return dsm_now_ns() - t0;
}

/* One read pass over buf, from memory rather than the cache where the
 * CPU lets us flush it. */
static uint64_t timed_read(char *buf, size_t len)
{
	volatile uint64_t sum = 0;
	uint64_t t0, s = 0;

#if defined(__x86_64__)
	for (size_t off = 0; off < len; off += 64)
		__builtin_ia32_clflush(buf + off);
	__builtin_ia32_mfence();
#endif
	t0 = dsm_now_ns();
	for (size_t off = 0; off < len; off += 64)
		s += *(volatile uint64_t *)(buf + off);
	sum = s;
	(void)sum;
	return dsm_now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Once at init (migrate): what moving one DSM page between two domains
 * costs (median of 9 moves of a private page of the same size), and what
 * using a page from a remote domain costs more than locally, per use
 * (one pass over its cache lines): the larger of the measured difference
 * and the local pass scaled by the distance ratio (hwloc distances),
 * because prefetching and emulators hide most of the difference.  A page
 * is moved only once its uses from elsewhere add up to the move's cost:
 * min_accesses = move cost / penalty.
 */
void dsm_numa_measure_costs(struct dsm_numa *n)
{
	size_t len = n->rt->heap.page_size;
	uint64_t mv[9], loc[5], rem[5], dl, dr;
	int here = dsm_numa_topo_here(&n->topo), other;
	char *buf;

	n->min_accesses = 2;
	if (n->topo.ndomains < 2)
		return;
	if (here < 0)
		here = 0;
	other = here == 0 ? 1 : 0;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		dsm_warn("DSM_NUMA=migrate: cannot measure the cost of a page move (%s); "
			 "assuming every use pays for it", strerror(errno));
		return;
	}
	memset(buf, 1, len);
	for (int k = 0; k < 9; k++)
		mv[k] = timed_move(n, buf, len, (int)n->topo.dom[k % 2 ? here : other].os_index);
	/* even k moved it to other, k = 8 last: bring it back to here */
	timed_move(n, buf, len, (int)n->topo.dom[here].os_index);
	for (int k = 0; k < 5; k++)
		loc[k] = timed_read(buf, len);
	timed_move(n, buf, len, (int)n->topo.dom[other].os_index);
	for (int k = 0; k < 5; k++)
		rem[k] = timed_read(buf, len);
	munmap(buf, len);
	qsort(mv, 9, sizeof(mv[0]), cmp_u64);
	qsort(loc, 5, sizeof(loc[0]), cmp_u64);
	qsort(rem, 5, sizeof(rem[0]), cmp_u64);
	n->move_cost_ns = mv[4];
	n->access_penalty_ns = rem[2] > loc[2] ? rem[2] - loc[2] : 0;
	dl = dsm_numa_topo_dist(&n->topo, here, here);
	dr = dsm_numa_topo_dist(&n->topo, here, other);
	if (dl && dr > dl && n->access_penalty_ns < loc[2] * (dr - dl) / dl)
		n->access_penalty_ns = loc[2] * (dr - dl) / dl;
	if (n->access_penalty_ns == 0)
		n->access_penalty_ns = loc[2] ? loc[2] : 1;	/* no distances: assume twice local */
	n->min_accesses = dsm_numa_min_accesses(n, n->move_cost_ns);
}

uint32_t dsm_numa_min_accesses(const struct dsm_numa *n, uint64_t move_cost_ns)
{
	uint64_t m = (move_cost_ns + n->access_penalty_ns - 1) / n->access_penalty_ns;

	if (m < 2)
		m = 2;
	if (m > 30000)
		m = 30000;	/* the per-page counters hold 16 bits */
	return (uint32_t)m;
}

/*
 * The cost rule prices a move at what moves cost now, a running mean
 * (weight 1/8) of each batch's time per page: measured once at init, the
 * price said nothing of a busy machine, where moves in the guest of
 * shared/tools/vm cost 4-10 ms against 35-447 us at init, and pages moved
 * back and forth for less use than that.  Each batch counts as at most
 * twice and at least half the price so far: one batch stalled by the
 * scheduler raises the price by 1/8, a machine that stays busy raises it
 * batch after batch (unclamped, one 10 ms move made the next migration of
 * check_numa2's freeze case wait 23 s).  Scanner thread.
 */
void dsm_numa_observe_moves(struct dsm_numa *n, uint64_t ns, size_t count)
{
	uint64_t cost, per;

	if (!count || !n->access_penalty_ns)
		return;
	per = ns / count;
	if (n->move_cost_ns && per > 2 * n->move_cost_ns)
		per = 2 * n->move_cost_ns;
	if (per < n->move_cost_ns / 2)
		per = n->move_cost_ns / 2;
	cost = (7 * n->move_cost_ns + per) / 8;
	__atomic_store_n(&n->move_cost_ns, cost, __ATOMIC_RELAXED);
	__atomic_store_n(&n->min_accesses, dsm_numa_min_accesses(n, cost), __ATOMIC_RELAXED);
}

/*
 * DSM_BIND: the CPU sets application threads are dealt, round robin, in
 * the order they are numbered: each NUMA domain's CPUs (numa) or each
 * core's (core), within the CPUs this process may use (dsmrun --bind may
 * have narrowed them).  Precomputed as cpu_set_t so that the fault path
 * binds with one sched_setaffinity(2) call, signal-safe.
 */
int dsm_numa_bind_setup(struct dsm_numa *n)
{
	struct dsm_numa_topo *t = &n->topo;
	hwloc_obj_type_t type = n->bind_mode == 1 ? HWLOC_OBJ_NUMANODE : HWLOC_OBJ_CORE;
	int nobj = hwloc_get_nbobjs_by_type(t->topo, type);
	hwloc_bitmap_t set = hwloc_bitmap_alloc();

	if (nobj < 1)
		nobj = 1;
	n->masks = calloc((size_t)nobj, sizeof(*n->masks));
	n->mask_lists = calloc((size_t)nobj, sizeof(*n->mask_lists));
	if (!set || !n->masks || !n->mask_lists) {
		hwloc_bitmap_free(set);
		return -ENOMEM;
	}
	for (int i = 0; i < nobj; i++) {
		hwloc_obj_t o = hwloc_get_obj_by_type(t->topo, type, (unsigned)i);

		if (!o)
			continue;
		hwloc_bitmap_and(set, o->cpuset, t->allowed);
		if (hwloc_bitmap_iszero(set))
			continue;
		hwloc_cpuset_to_glibc_sched_affinity(t->topo, set, &n->masks[n->nmasks],
						     sizeof(cpu_set_t));
		hwloc_bitmap_list_snprintf(n->mask_lists[n->nmasks], sizeof(n->mask_lists[0]), set);
		n->nmasks++;
	}
	if (n->nmasks == 0) {
		hwloc_cpuset_to_glibc_sched_affinity(t->topo, t->allowed, &n->masks[0],
						     sizeof(cpu_set_t));
		snprintf(n->mask_lists[0], sizeof(n->mask_lists[0]), "%s", t->allowed_list);
		n->nmasks = 1;
	}
	hwloc_bitmap_free(set);
	return 0;
}
