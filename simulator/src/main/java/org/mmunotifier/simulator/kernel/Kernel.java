package org.mmunotifier.simulator.kernel;

import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuIntervalNotifier;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.PrimaryMmu;
import org.mmunotifier.simulator.Op;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.driver.Handle;
import org.mmunotifier.simulator.driver.Mirror;

/**
 * The primary MMU: the operations of the core mm, each raising the notifier calls that Linux 5.4
 * raises for it, in 5.4's order by default ({@link KernelOrder#LINUX_5_4}), or in the stricter
 * order this simulator used to have ({@link KernelOrder#STRICT}).
 *
 * <p>5.4's unmap (munmap, exit, reclaim's zap) goes through the mmu_gather:
 * <pre>
 * invalidateRangeStart(range)                  secondary MMUs drop their translations
 * page-table lock
 *     clear the entries, batch the frames      (zap_pte_range; a stale window opens per entry)
 * page-table unlock
 * invalidateRange(mm, start, end)              secondary TLBs flush (tlb_flush_mmu_tlbonly)
 * invalidateRangeEnd(range)                    the full end: invalidateRange again, then the end
 * drop the old frames                          (tlb_finish_mmu: only now may they be reused)
 * </pre>
 * The strict order instead calls {@code invalidateRange} under the lock right after every change
 * and ends with {@code invalidateRangeOnlyEnd}. docs/simulator.md has the table of every
 * operation in both orders.
 *
 * <p>Every change of a present entry opens a stale window on it ({@link PageTable#markStaleLocked})
 * that closes after the secondary flush that covers it; the checker accepts a stale translation
 * used inside it. Filling a not-present entry (a page fault) and making a read-only entry
 * writable for a frame mapped once need no notifier call, as in the kernel.
 *
 * <p>Locking: mmap, mprotect, mremap and fork take the mmap lock for write; munmap takes it for write
 * and, in 5.4's order, downgrades to read before the zap; page faults, {@code MADV_DONTNEED},
 * soft-dirty clearing and migration take it for read; reclaim and {@code page_mkclean} take none
 * (they hold the process's rmap lock for read).
 * The caller of every operation has pinned the process.
 */
public final class Kernel {
    static final int PAGE_SHIFT = 12;
    static final long PAGE_SIZE = 1L << PAGE_SHIFT;
    /** 5.4's {@code MAX_OOM_REAP_RETRIES}: how many times {@code oom_reap_task} tries. */
    static final int MAX_OOM_REAP_RETRIES = 10;
    /** The reaper's sleep between tries: 5.4's {@code HZ/10}, scaled down to the simulator's pace. */
    private static final long OOM_REAP_RETRY_NANOS = 100_000;

    public final FrameAllocator frames;
    public final Checker checker;
    public final KernelOrder order;
    /** Injected: KSM's set_pte_at_notify without its bracket (see the constructor). */
    private final boolean ksmWithoutBracket;
    /** Injected: 5.4's non-blocking start, which leaves the started notifiers unended on a failure. */
    private final boolean unpairedNonblockEnd;
    final int pages;
    final int maxMapPages;
    /** Transparent huge pages: faults, splits, khugepaged, huge copy-on-write. */
    final HugePages thp;
    private final ConcurrentHashMap<MmStruct, Process> byMm = new ConcurrentHashMap<>();
    private final Queue<MmStruct> allMms = new ConcurrentLinkedQueue<>();
    private final AtomicInteger nextPid = new AtomicInteger(1);
    /**
     * KSM's stable page, as {@code frame | generation << 32}, or -1: the frame that the next
     * merge maps in place of its page. It holds no mapping of its own (the last of its mappings
     * frees it), so a merge takes one with {@link FrameAllocator#tryGet}.
     */
    private final java.util.concurrent.atomic.AtomicLong ksmPage = new java.util.concurrent.atomic.AtomicLong(-1);

    public Kernel(FrameAllocator frames, Checker checker, int pages, int maxMapPages) {
        this(frames, checker, pages, maxMapPages, KernelOrder.LINUX_5_4);
    }

    public Kernel(FrameAllocator frames, Checker checker, int pages, int maxMapPages, KernelOrder order) {
        this(frames, checker, pages, maxMapPages, order, Inject.NONE);
    }

    /**
     * @param inject the planted bug; two are the kernel's own: {@link Inject#KSM_WITHOUT_BRACKET}
     *     (KSM calls {@code changePte} without the start/end bracket, as before 6bdb913f0a70) and
     *     {@link Inject#OOM_REAPER_UNPAIRED_END} (the OOM reaper's failed non-blocking start
     *     leaves the started notifiers without their end, as before c2655835fd8c); the kernel
     *     ignores the drivers' bugs
     */
    public Kernel(FrameAllocator frames, Checker checker, int pages, int maxMapPages, KernelOrder order, Inject inject) {
        this.frames = frames;
        this.checker = checker;
        this.order = order;
        this.ksmWithoutBracket = inject == Inject.KSM_WITHOUT_BRACKET;
        this.unpairedNonblockEnd = inject == Inject.OOM_REAPER_UNPAIRED_END;
        this.pages = pages;
        this.maxMapPages = maxMapPages;
        this.thp = new HugePages(this);
    }

    static long addr(int vpage) {
        return (long) vpage << PAGE_SHIFT;
    }

    public static int firstPage(long address) {
        return (int) Math.min(Integer.MAX_VALUE, address >>> PAGE_SHIFT);
    }

    public static int endPage(long end) {
        if (end < 0) {
            return Integer.MAX_VALUE; // beyond 2^63 unsigned: the rest of the address space (ULONG_MAX)
        }
        return (int) Math.min(Integer.MAX_VALUE, (end + PAGE_SIZE - 1) >>> PAGE_SHIFT);
    }

    /** @return the process owning {@code mm}, or null once it has exited */
    public Process processOf(MmStruct mm) {
        return byMm.get(mm);
    }

    /** @return every mm created so far (for the end-of-run reference check) */
    public Iterable<MmStruct> allMms() {
        return allMms;
    }

    private Process newProcess() {
        Process p = new Process(nextPid.getAndIncrement(), frames, pages, this);
        byMm.put(p.mm, p);
        allMms.add(p.mm);
        return p;
    }

    // ------------------------------------------------------------------ process lifetime

    /** One process in this many gets a heap of one huge page's size (see {@link #spawn}). */
    static final int HUGE_HEAP_ONE_IN = 8;
    /** The heap of the other processes, in pages. */
    static final int SMALL_HEAP_PAGES = 32;

    /**
     * Creates a process with a read-only text area and a writable heap (execve). One process in
     * {@value #HUGE_HEAP_ONE_IN} (when the address space has room for two huge pages) has an
     * allocator that asks for a 2 MiB-aligned heap of one huge page's size, whose pages may be
     * mapped huge; the others get a heap of {@value #SMALL_HEAP_PAGES} pages.
     */
    public Process spawn(SplittableRandom rng, Stats st) {
        Process p = newProcess();
        p.mm.mmapWriteLock();
        try {
            p.vmas.mmap(Math.min(8, pages), VmaList.PROT_READ, rng);
            int rw = VmaList.PROT_READ | VmaList.PROT_WRITE;
            boolean huge = pages >= 2 * PageTable.HPAGE_PAGES && rng.nextInt(HUGE_HEAP_ONE_IN) == 0;
            if (!huge || p.vmas.mmapAligned(PageTable.HPAGE_PAGES, PageTable.HPAGE_PAGES, rw, rng) == null) {
                p.vmas.mmap(Math.min(SMALL_HEAP_PAGES, pages / 2 + 1), rw, rng);
            }
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.SPAWN);
        return p;
    }

    /**
     * fork: the child gets a copy of every area; pages of writable areas are shared
     * copy-on-write, which write-protects them in the parent.
     *
     * <p>5.4 ({@code dup_mmap} / {@code copy_page_range}): an area with no anonymous page yet (no
     * {@code anon_vma}; here: none present) is not copied and raises nothing; every other area
     * (a private mapping is a COW mapping) gets a PROTECTION_PAGE bracket on the parent, its
     * entries are copied and the parent's writable ones write-protected under both page-table
     * locks with no flush, and the full end flushes the secondary TLBs; the parent's own TLB is
     * flushed once, after every area ({@code flush_tlb_mm}), which closes the stale windows.
     * Strict: a bracket only on writable areas, {@code invalidateRange} under both locks.
     */
    @SuppressWarnings("deprecation")
    public Process fork(Process parent, Stats st) {
        Process child = newProcess();
        boolean linux = order == KernelOrder.LINUX_5_4;
        long[] windows = new long[pages]; // the parent's write-protected pages, one window each
        int nw = 0;
        parent.mm.mmapWriteLock();
        try {
            child.vmas.copyFrom(parent.vmas);
            for (VmaList.Vma v : parent.vmas.all()) {
                boolean bracket = linux ? hasPresentPage(parent, v) : v.writable();
                if (linux && !bracket) {
                    continue; // no anon_vma: copy_page_range copies nothing and raises nothing
                }
                MmuNotifierRange range = null;
                long t0 = 0;
                if (bracket) {
                    range = new MmuNotifierRange(parent.mm, addr(v.start()), addr(v.end()), MmuNotifierEvent.PROTECTION_PAGE, true);
                    t0 = beginInvalidation(range);
                }
                int areaWindows = nw;
                parent.table.lock();
                child.table.lock();
                try {
                    for (int vp = v.start(); vp < v.end(); vp++) {
                        int f = parent.table.frameLocked(vp);
                        if (f < 0) {
                            continue;
                        }
                        int fl = parent.table.flagsLocked(vp);
                        frames.get(f);
                        if (v.writable() && (fl & PageTable.WRITE) != 0) {
                            windows[nw++] = window(vp, parent.table.markStaleLocked(vp)); // closed by the flush below
                            fl &= ~PageTable.WRITE;
                            parent.table.setFlagsLocked(vp, fl);
                        }
                        child.table.mapLocked(vp, f, fl & ~PageTable.REFERENCED);
                    }
                    for (int b = PageTable.blockOf(v.start()); PageTable.blockStart(b) < v.end(); b++) {
                        if (parent.table.pmdLocked(b) == PageTable.PMD_HUGE) { // copy_huge_pmd
                            child.table.setPmdLocked(b, PageTable.PMD_HUGE);
                        }
                    }
                    if (!linux && bracket) {
                        PrimaryMmu.invalidateRange(parent.mm, range.start(), range.end());
                        closeWindows(parent.table, windows, areaWindows, nw);
                    }
                } finally {
                    child.table.unlock();
                    parent.table.unlock();
                }
                if (bracket) {
                    endInvalidation(range, t0, st, !linux);
                }
            }
            if (linux) { // flush_tlb_mm(oldmm), after every area
                parent.table.lock();
                try {
                    closeWindows(parent.table, windows, 0, nw);
                } finally {
                    parent.table.unlock();
                }
            }
        } finally {
            parent.mm.mmapWriteUnlock();
        }
        st.count(Op.FORK);
        return child;
    }

    /** The stand-in for an area's {@code anon_vma}: it has a present page. Mmap lock held. */
    private static boolean hasPresentPage(Process p, VmaList.Vma v) {
        p.table.lock();
        try {
            for (int vp = v.start(); vp < v.end(); vp++) {
                if (p.table.frameLocked(vp) >= 0) {
                    return true;
                }
            }
            return false;
        } finally {
            p.table.unlock();
        }
    }

    /** @return a window the caller opened: its page and its token, for {@link #closeWindows} */
    static long window(int vpage, long token) {
        return (long) vpage << 33 | token;
    }

    static int windowPage(long window) {
        return (int) (window >>> 33);
    }

    static long windowToken(long window) {
        return window & ((1L << 33) - 1);
    }

    /**
     * Closes the caller's own stale windows {@code windows[from..to)}: the flush that covers them
     * ran. Page-table lock held. Each operation closes exactly the windows it opened, so windows
     * that other operations opened on the same pages meanwhile (a zap under the mmap read lock
     * races page faults, reclaim and {@code page_mkclean}) stay open until their own flush.
     */
    static void closeWindows(PageTable t, long[] windows, int from, int to) {
        for (int i = from; i < to; i++) {
            t.unmarkStaleLocked(windowPage(windows[i]), windowToken(windows[i]));
        }
    }

    /** {@link #closeWindows} of the first {@code n}, taking the page-table lock around it. */
    static void closeWindowsLocking(PageTable t, long[] windows, int n) {
        t.lock();
        try {
            closeWindows(t, windows, 0, n);
        } finally {
            t.unlock();
        }
    }

    /**
     * Process exit ({@code do_exit}): drop the task's pin ({@code exit_mm}; the last pin runs
     * release and the teardown), then close every device file ({@code exit_files}: puts and
     * unregisters). Runs once per process.
     *
     * <p><b>Context:</b> no lock held; blocks.
     */
    public void exit(Process p, Stats st) {
        if (!p.exiting.compareAndSet(false, true)) {
            return;
        }
        st.count(Op.EXIT);
        p.unpin(this, st);
        for (Handle h : p.closeFiles()) {
            h.driver.close(h, st);
        }
    }

    /**
     * The rest of {@code exit_mmap} after {@code mmu_notifier_release}, installed as the mm's
     * teardown: the last {@code mmput} runs it on a live mm, after every notifier's release, the
     * unlink and a grace period. An OOM victim's areas are reaped first
     * ({@code __oom_reap_task_mm}), {@code MMF_OOM_SKIP} is set and the mmap lock taken for
     * write and dropped, to wait for the reaper. Every page is unmapped with an {@code UNMAP} range over the
     * whole address space, as 5.4's {@code unmap_vmas} raises it (no list notifier is linked any
     * more to receive it), through the gather; every frame is dropped last.
     */
    void exitMmap(Process p, Stats st) {
        if (p.oomVictim) { // exit_mmap reaps an OOM victim itself first; no notifier is linked any more
            oomReapAreas(p, st);
            p.oomSkip = true;
            p.mm.mmapWriteLock(); // waits for a reaper that still holds the read lock
            p.mm.mmapWriteUnlock();
        }
        zap(p, 0, pages, MmuNotifierEvent.UNMAP, st);
        p.vmas.unmap(0, pages);
        byMm.remove(p.mm);
    }

    /**
     * Unmaps the present pages of {@code [from, to)} with a blockable {@code event} bracket
     * ({@code unmap_vmas}/{@code zap_page_range} with the mmu_gather in 5.4's order; strict:
     * {@code invalidateRange} under the lock and the only-end), then frees their frames.
     */
    void zap(Process p, int from, int to, MmuNotifierEvent event, Stats st) {
        MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(from), addr(to), event, true);
        long t0 = beginInvalidation(range);
        zapStarted(p, range, from, to, t0, st);
    }

    /**
     * The zap of a started range: {@code unmap_page_range}, the end and {@code tlb_finish_mmu}.
     * Under the page-table lock every present entry is cleared and its frame batched, each with
     * a stale window; a migration entry is dropped (the migration then installs nothing). In
     * 5.4's order {@code invalidateRange} follows once the lock is dropped
     * ({@code tlb_end_vma} → {@code tlb_flush_mmu_tlbonly}) and the full end calls it again;
     * strict: under the lock, and the only-end. The frames are freed last.
     *
     * <p>The caller holds the mmap lock (read, or write) or none at exit. Under the read lock
     * page faults run beside the zap and may refill an entry that it cleared while the old
     * translation's window is still open; the zap closes only its own windows and frees only the
     * frames it cleared.
     */
    private void zapStarted(Process p, MmuNotifierRange range, int from, int to, long t0, Stats st) {
        boolean linux = order == KernelOrder.LINUX_5_4;
        if (range.blockable()) {
            thp.splitPartial(p, from, to, st); // zap_pmd_range: a huge block zapped in part is split first
        }
        int n = 0;
        long[] windows = st.windows(to - from);
        PageTable t = p.table;
        t.lock();
        try {
            for (int vp = from; vp < to; ) {
                int blockStart = PageTable.blockStart(PageTable.blockOf(vp));
                int next = Math.min(to, blockStart + PageTable.HPAGE_PAGES);
                if ((vp != blockStart || next != blockStart + PageTable.HPAGE_PAGES)
                        && t.pmdLocked(PageTable.blockOf(vp)) == PageTable.PMD_HUGE) {
                    // Huge although the split above found it otherwise: a fault under the mmap read
                    // lock (MADV_DONTNEED holds only that) mapped it since. zap_pmd_range's
                    // pmd_none_or_trans_huge_or_clear_bad skips such a block, page by page intact.
                    vp = next;
                    continue;
                }
                for (; vp < next; vp++) {
                    if (t.frameLocked(vp) >= 0) {
                        windows[n++] = window(vp, t.markStaleLocked(vp));
                        t.clearLocked(vp); // batched: freed after the flush (tlb_finish_mmu)
                    } else if (t.migrationEntryLocked(vp)) {
                        t.clearMigrationLocked(vp);
                    }
                }
            }
            HugePages.zappedLocked(t, from, to); // zap_huge_pmd
            if (!linux) {
                PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
                closeWindows(t, windows, 0, n);
            }
        } finally {
            t.unlock();
        }
        if (linux && n > 0) { // tlb_end_vma -> tlb_flush_mmu_tlbonly: after the lock is dropped
            PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
            closeWindowsLocking(t, windows, n);
        }
        endInvalidation(range, t0, st, !linux);
        for (int i = 0; i < n; i++) { // tlb_finish_mmu
            frames.put(PageTable.tokenFrame(windowToken(windows[i])));
        }
    }

    // ------------------------------------------------------------------ khugepaged

    /** One scan of khugepaged in a random area of {@code p}: {@link HugePages#khugepaged}. */
    public void khugepaged(Process p, SplittableRandom rng, Stats st) {
        thp.khugepaged(p, rng, st);
    }

    // ------------------------------------------------------------------ KSM

    /**
     * One merge by ksmd ({@code cmp_and_merge_page}) of a random page: see {@link #ksmMergePage}.
     * Off by default (its event weight is 0): {@code changePte}, which it exercises, left the
     * kernel in 6.10.
     */
    public void ksmMerge(Process p, SplittableRandom rng, Stats st) {
        VmaList.Vma v = p.vmas.randomUnlocked(rng);
        if (v != null) {
            ksmMergePage(p, v.start() + rng.nextInt(v.length()), st);
        }
    }

    /**
     * ksmd merges the page at {@code vpage} (mapped once, contents taken as identical to every
     * other: the simulator keeps none) with KSM's stable page, under the mmap read lock as
     * {@code try_to_merge_with_ksm_page} holds it. First 5.4's {@code write_protect_page}: a
     * blockable CLEAR bracket over the page; under the page-table lock, if the entry is writable
     * or dirty, {@code ptep_clear_flush} (cleared, primary flush, no notifier call) and
     * {@code set_pte_at_notify} of the entry write-protected and clean ({@code changePte}, then
     * the entry); the full end flushes the secondary TLBs. If there is no stable page yet, this
     * page becomes it. Otherwise {@code replace_page}: a second CLEAR bracket; under the lock,
     * if the entry is still the write-protected one, a mapping of the stable page is taken,
     * {@code ptep_clear_flush}, {@code set_pte_at_notify} of the stable page read-only, the old
     * page's mapping dropped; the full end; the old frame freed once ksmd drops its own
     * reference, after the end. A later write breaks copy-on-write. Strict: each entry changed
     * first, then {@code invalidateRange} and {@code changePte} under the lock, and the only-end.
     *
     * <p>The bracket around {@code set_pte_at_notify} is 6bdb913f0a70 ("mm: wrap calls to
     * set_pte_at_notify with invalidate_range_start and invalidate_range_end", 3.7).
     */
    @SuppressWarnings("deprecation")
    void ksmMergePage(Process p, int vpage, Stats st) {
        p.mm.mmapReadLock();
        try {
            PageTable t = p.table;
            int f;
            t.lock();
            try {
                f = t.frameLocked(vpage);
            } finally {
                t.unlock();
            }
            long stable = ksmPage.get();
            if (f < 0 || frames.mapCount(f) != 1 || isKsmPage(f)) {
                return; // not a candidate: not present, shared (a KSM page already, or copy-on-write)
            }
            st.count(Op.KSM_MERGE);
            thp.splitAt(p, vpage, st); // try_to_merge_one_page: split_huge_page
            if (!ksmWriteProtect(p, vpage, f, st)) {
                return;
            }
            if (stable < 0 || !frames.tryGet((int) stable, (int) (stable >>> 32))) {
                ksmPage.set(f | (long) frames.generation(f) << 32); // stable_tree_insert
                return;
            }
            ksmReplace(p, vpage, f, (int) stable, st);
        } finally {
            p.mm.mmapReadUnlock();
        }
    }

    /**
     * @return whether {@code f} is KSM's stable page: a write to it always copies, even when it is
     *     mapped once, since a merge may be mapping it elsewhere at that moment
     */
    boolean isKsmPage(int f) {
        long stable = ksmPage.get();
        return stable >= 0 && (int) stable == f && (int) (stable >>> 32) == frames.generation(f);
    }

    /** {@code write_protect_page}. @return false if the entry changed meanwhile */
    @SuppressWarnings("deprecation")
    private boolean ksmWriteProtect(Process p, int vpage, int f, Stats st) {
        boolean linux = order == KernelOrder.LINUX_5_4;
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = ksmWithoutBracket ? System.nanoTime() : beginInvalidation(range); // injected: no bracket
        boolean ok = false;
        long token = 0;
        PageTable t = p.table;
        t.lock();
        try {
            if (t.frameLocked(vpage) == f) {
                ok = true;
                int fl = t.flagsLocked(vpage);
                if ((fl & (PageTable.WRITE | PageTable.DIRTY)) != 0) {
                    token = t.markStaleLocked(vpage);
                    int protectedFlags = fl & ~(PageTable.WRITE | PageTable.DIRTY);
                    if (linux) {
                        t.clearLocked(vpage);                          // ptep_clear_flush
                        PrimaryMmu.changePte(p.mm, a, (long) f << PAGE_SHIFT); // set_pte_at_notify
                        t.mapLocked(vpage, f, protectedFlags);
                    } else {
                        t.setFlagsLocked(vpage, protectedFlags);
                        PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                        PrimaryMmu.changePte(p.mm, a, (long) f << PAGE_SHIFT);
                        t.unmarkStaleLocked(vpage, token);
                        token = 0;
                    }
                }
            }
        } finally {
            t.unlock();
        }
        if (!ksmWithoutBracket) {
            endInvalidation(range, t0, st, !linux); // 5.4: the full end flushes the secondary TLBs
        }
        if (token != 0) {
            t.lock();
            try {
                t.unmarkStaleLocked(vpage, token);
            } finally {
                t.unlock();
            }
        }
        return ok;
    }

    /**
     * {@code replace_page}: maps the stable page {@code kpage} (of which the caller took a
     * mapping) in place of {@code f}, or drops that mapping again if the entry changed.
     */
    @SuppressWarnings("deprecation")
    private void ksmReplace(Process p, int vpage, int f, int kpage, Stats st) {
        boolean linux = order == KernelOrder.LINUX_5_4;
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = ksmWithoutBracket ? System.nanoTime() : beginInvalidation(range); // injected: no bracket
        boolean replaced = false;
        long token = 0;
        PageTable t = p.table;
        t.lock();
        try {
            int fl = t.flagsLocked(vpage);
            if (t.frameLocked(vpage) == f && (fl & PageTable.WRITE) == 0) { // pte_same(orig_pte)
                token = t.markStaleLocked(vpage);
                int kflags = 0; // mk_pte(kpage, vm_page_prot), write-protected
                if (linux) {
                    t.clearLocked(vpage);                              // ptep_clear_flush
                    PrimaryMmu.changePte(p.mm, a, (long) kpage << PAGE_SHIFT); // set_pte_at_notify
                    t.mapLocked(vpage, kpage, kflags);
                } else {
                    t.replaceLocked(vpage, kpage, kflags);
                    PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                    PrimaryMmu.changePte(p.mm, a, (long) kpage << PAGE_SHIFT);
                    t.unmarkStaleLocked(vpage, token);
                    token = 0;
                }
                replaced = true;
            }
        } finally {
            t.unlock();
        }
        if (!ksmWithoutBracket) {
            endInvalidation(range, t0, st, !linux);
        }
        if (token != 0) {
            t.lock();
            try {
                t.unmarkStaleLocked(vpage, token);
            } finally {
                t.unlock();
            }
        }
        frames.put(replaced ? f : kpage); // page_remove_rmap + put_page of the old page, or the unused kpage
    }

    // ------------------------------------------------------------------ the OOM killer and its reaper

    /**
     * The OOM killer kills {@code p}: it is marked as a victim ({@code mark_oom_victim}) and
     * queued for the OOM reaper ({@code wake_oom_reaper}); the calling thread then plays the
     * {@code oom_reaper} kernel thread ({@link #oomReapTask}) while the process still runs (other
     * threads may be faulting in it or accessing it through a device), and finally the victim
     * exits ({@link #exit}). Runs once per process.
     *
     * <p><b>Context:</b> no lock held; the caller has pinned {@code p}; blocks.
     */
    public void oomKill(Process p, Stats st) {
        if (p.exiting.get()) {
            return;
        }
        st.count(Op.OOM_KILL);
        p.oomVictim = true;
        oomReapTask(p, st);
        exit(p, st);
    }

    /**
     * 5.4's {@code oom_reap_task}: up to {@value #MAX_OOM_REAP_RETRIES} tries of
     * {@link #oomReapTaskMm}, sleeping between them ({@code schedule_timeout_idle(HZ/10)}); then
     * {@code MMF_OOM_SKIP} is set whatever happened (the OOM killer may pick another victim).
     * Giving up is counted ("oom_reaper: unable to reap").
     */
    private void oomReapTask(Process p, Stats st) {
        int attempts = 0;
        while (attempts++ < MAX_OOM_REAP_RETRIES && !oomReapTaskMm(p, st)) {
            st.count(Op.OOM_REAP_RETRY);
            java.util.concurrent.locks.LockSupport.parkNanos(OOM_REAP_RETRY_NANOS);
        }
        if (attempts > MAX_OOM_REAP_RETRIES && !p.oomSkip) {
            st.count(Op.OOM_REAP_GAVE_UP);
        }
        p.oomSkip = true;
    }

    /**
     * 5.4's {@code oom_reap_task_mm}: the mmap lock for read, without waiting
     * ({@code down_read_trylock}: a writer may hold it for long); nothing to do once
     * {@code MMF_OOM_SKIP} is set (exit_mmap has reaped already).
     *
     * @return false if the lock was busy or some area was not reaped: try again later
     */
    private boolean oomReapTaskMm(Process p, Stats st) {
        if (!p.mm.mmapReadTrylock()) {
            return false;
        }
        try {
            return p.oomSkip || oomReapAreas(p, st);
        } finally {
            p.mm.mmapReadUnlock();
        }
    }

    /**
     * 5.4's {@code __oom_reap_task_mm}, with the mmap lock held for read or (from exit) the mm
     * exiting: sets {@code MMF_UNSTABLE} (page faults that would fill an entry now fail with
     * SIGBUS, {@code check_stable_address_space}), then for every area (every simulated area is
     * private anonymous memory, so none is skipped as locked, hugetlb, PFN-mapped or shared) a
     * non-blockable UNMAP range over the whole area, started with
     * {@link PrimaryMmu#invalidateRangeStartNonblock}. If a notifier refuses (a driver that
     * cannot take its lock without waiting returns false), the area is skipped and left for the
     * next try; otherwise it is zapped as {@code unmap_page_range} does ({@link #zapStarted}:
     * the mmu_gather, {@code invalidateRange} after the page-table lock, the full end, the frames
     * freed last; strict: {@code invalidateRange} under the lock and the only-end).
     *
     * <p>5.4 itself calls no end for the notifiers whose start succeeded when another refused
     * (c2655835fd8c, "mm/mmu_notifiers: ensure range_end() is paired with range_start()",
     * fixed that in 5.12); the library's {@code invalidateRangeStartNonblock} implements the fix:
     * those notifiers get their end inside the failed start, so the drivers' invalidation counts
     * stay balanced. {@code --inject oom-reaper-unpaired-end} runs 5.4's own start instead
     * ({@code invalidateRangeStartNonblockUnpaired}).
     *
     * @return false if some area was skipped
     */
    private boolean oomReapAreas(Process p, Stats st) {
        p.unstable = true;
        boolean all = true;
        for (VmaList.Vma v : p.vmas.all()) {
            MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(v.start()), addr(v.end()), MmuNotifierEvent.UNMAP, false);
            long t0 = System.nanoTime();
            boolean started = unpairedNonblockEnd ? PrimaryMmu.invalidateRangeStartNonblockUnpaired(range)
                    : PrimaryMmu.invalidateRangeStartNonblock(range);
            if (!started) {
                st.count(Op.OOM_REAP_SKIP); // tlb_finish_mmu of the empty gather; try again later
                all = false;
                continue;
            }
            zapStarted(p, range, v.start(), v.end(), t0, st);
        }
        return all;
    }

    // ------------------------------------------------------------------ address-space changes

    /**
     * @return the end of a random part of {@code v} that starts at {@code from}: at most
     *     {@code maxMapPages} long, as an mmap is (a program unmaps, protects, moves and drops
     *     parts of about the size it maps; a huge heap is changed a part at a time)
     */
    private int partEnd(VmaList.Vma v, int from, SplittableRandom rng) {
        return from + 1 + rng.nextInt(Math.min(v.end() - from, maxMapPages));
    }

    /** One mmap in this many asks for a 2 MiB-aligned area of one huge page's size. */
    static final int HUGE_MMAP_ONE_IN = 8;

    /**
     * mmap: a new anonymous area, writable three times in four; one in {@value #HUGE_MMAP_ONE_IN}
     * is one huge page's size at an aligned place (when the address space has room for two), so
     * that it may be mapped huge.
     */
    public void mmap(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        try {
            int len = 1 + rng.nextInt(maxMapPages);
            int prot = rng.nextInt(4) == 0 ? VmaList.PROT_READ : VmaList.PROT_READ | VmaList.PROT_WRITE;
            if (pages >= 2 * PageTable.HPAGE_PAGES && rng.nextInt(HUGE_MMAP_ONE_IN) == 0
                    && p.vmas.mmapAligned(PageTable.HPAGE_PAGES, PageTable.HPAGE_PAGES, prot, rng) != null) {
                st.count(Op.MMAP);
                return;
            }
            p.vmas.mmap(Math.min(len, pages), prot, rng);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MMAP);
    }

    /**
     * mmap of {@code length} pages (readable; writable too if asked) at a free place, as
     * {@link #mmap} makes its small mappings.
     *
     * @return the new area, or null if there is no room
     */
    public VmaList.Vma mmapLength(Process p, int length, boolean writable, Stats st) {
        p.mm.mmapWriteLock();
        VmaList.Vma v;
        try {
            v = p.vmas.mmap(length, VmaList.PROT_READ | (writable ? VmaList.PROT_WRITE : 0), new SplittableRandom(length));
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MMAP);
        return v;
    }

    /**
     * mmap of one huge page's size (512 pages) at a free 2 MiB boundary, as {@link #mmap} makes
     * one mmap in {@value #HUGE_MMAP_ONE_IN}: its first fault may map a transparent huge page.
     *
     * @return the new area, or null if there is no aligned room
     */
    public VmaList.Vma mmapHuge(Process p, boolean writable, Stats st) {
        p.mm.mmapWriteLock();
        VmaList.Vma v;
        try {
            v = p.vmas.mmapAligned(PageTable.HPAGE_PAGES, PageTable.HPAGE_PAGES,
                    VmaList.PROT_READ | (writable ? VmaList.PROT_WRITE : 0), new SplittableRandom(0));
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MMAP);
        return v;
    }

    /**
     * munmap of a random part of a random area (UNMAP). 5.4 ({@code __do_munmap}): the areas are
     * detached under the mmap write lock, which is then downgraded to read for the zap, so page
     * faults elsewhere run beside it. Strict: the zap runs under the write lock, before the
     * areas go.
     */
    public void munmap(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        int from;
        int to;
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                p.mm.mmapWriteUnlock();
                return;
            }
            from = v.start() + rng.nextInt(v.length());
            to = partEnd(v, from, rng);
        } catch (RuntimeException | Error e) {
            p.mm.mmapWriteUnlock();
            throw e;
        }
        munmapWriteLocked(p, from, to, st);
    }

    /** munmap of pages {@code [from, to)}, which need not be mapped, as {@link #munmap} does it. */
    public void munmapRange(Process p, int from, int to, Stats st) {
        p.mm.mmapWriteLock();
        munmapWriteLocked(p, from, to, st);
    }

    /** The body of {@link #munmap}: the caller holds the mmap write lock, which this drops. */
    private void munmapWriteLocked(Process p, int from, int to, Stats st) {
        boolean writeHeld = true;
        try {
            thp.splitPartial(p, from, to, st); // __split_vma -> vma_adjust_trans_huge
            if (order == KernelOrder.LINUX_5_4) {
                p.vmas.unmap(from, to);
                p.mm.mmapWriteDowngrade();
                writeHeld = false;
                zap(p, from, to, MmuNotifierEvent.UNMAP, st);
            } else {
                zap(p, from, to, MmuNotifierEvent.UNMAP, st);
                p.vmas.unmap(from, to);
            }
            HugePages.freeTables(p, from, to); // unmap_region -> free_pgtables
        } finally {
            if (writeHeld) {
                p.mm.mmapWriteUnlock();
            } else {
                p.mm.mmapReadUnlock();
            }
        }
        st.count(Op.MUNMAP);
    }

    /**
     * mremap (MREMAP_MAYMOVE) of a random part of a random area to a free place of the same size,
     * under the mmap write lock: 5.4's {@code move_vma}. The new area is made first
     * ({@code copy_vma}); {@link #movePageTables} moves the entries under an UNMAP bracket over
     * the old range; then the old range is unmapped as munmap does it ({@code do_munmap}, with no
     * downgrade: mremap asks for none), with a second UNMAP bracket over entries that are empty
     * by then. No frame is freed: the frames move with their entries.
     */
    public void mremap(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return;
            }
            int from = v.start() + rng.nextInt(v.length());
            int to = partEnd(v, from, rng);
            int dest = p.vmas.findGap(to - from, rng);
            if (dest < 0) {
                return; // no room: -ENOMEM
            }
            thp.splitPartial(p, from, to, st); // vma_adjust_trans_huge where the area is cut
            p.vmas.insert(new VmaList.Vma(dest, dest + (to - from), v.prot())); // copy_vma
            movePageTables(p, from, dest, to - from, st);
            p.vmas.unmap(from, to); // do_munmap: the areas are detached, then unmap_region
            zap(p, from, to, MmuNotifierEvent.UNMAP, st);
            HugePages.freeTables(p, from, to);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MREMAP);
    }

    /**
     * 5.4's {@code move_page_tables}: a blockable UNMAP bracket over the old range
     * {@code [from, from + len)}; under the page-table lock ({@code move_ptes} takes the old
     * entry's lock, then the new one's: one lock here) every present entry is cleared at the old
     * address and set at {@code dest} with the same frame and flags, each old translation with a
     * stale window, and the primary TLB is flushed for the old range before the lock is dropped
     * ({@code flush_tlb_range} for {@code force_flush}: no notifier call); the full end flushes
     * the secondary TLBs, which closes the windows. Strict: {@code invalidateRange} under the
     * lock after the move, and the only-end. Mmap write lock held; the new range holds no entry.
     */
    void movePageTables(Process p, int from, int dest, int len, Stats st) {
        boolean linux = order == KernelOrder.LINUX_5_4;
        MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(from), addr(from + len), MmuNotifierEvent.UNMAP, true);
        long t0 = beginInvalidation(range);
        boolean hugeMoves = (dest - from) % PageTable.HPAGE_PAGES == 0;
        if (!hugeMoves) { // a huge block moves whole only to an aligned place: split_huge_pmd
            for (int b = PageTable.blockOf(from); PageTable.blockStart(b) < from + len; b++) {
                thp.split(p, b, st);
            }
        }
        long[] windows = st.windows(len);
        int n = 0;
        PageTable t = p.table;
        t.lock();
        try {
            for (int i = 0; i < len; i++) {
                int f = t.frameLocked(from + i);
                if (f < 0) {
                    continue;
                }
                int fl = t.flagsLocked(from + i);
                windows[n++] = window(from + i, t.markStaleLocked(from + i));
                t.clearLocked(from + i);      // ptep_get_and_clear(old)
                t.mapLocked(dest + i, f, fl); // set_pte_at(new): the same frame, its mapping moves
            }
            if (hugeMoves) { // move_huge_pmd: the old PMD cleared, the new one huge
                for (int b = PageTable.blockOf(from); PageTable.blockStart(b) < from + len; b++) {
                    if (t.pmdLocked(b) == PageTable.PMD_HUGE) {
                        t.setPmdLocked(b, PageTable.PMD_NONE);
                        t.setPmdLocked(PageTable.blockOf(dest + PageTable.blockStart(b) - from), PageTable.PMD_HUGE);
                    }
                }
            }
            if (!linux) {
                PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
                closeWindows(t, windows, 0, n);
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st, !linux); // 5.4: the full end flushes the secondary TLBs
        if (linux && n > 0) {
            closeWindowsLocking(t, windows, n);
        }
    }

    /**
     * madvise(MADV_DONTNEED) of a random part of a random area: 5.4's
     * {@code madvise_dontneed_single_vma} → {@code zap_page_range}. The mmap lock is held for read
     * only ({@code madvise_need_mmap_write} is false for it); a blockable CLEAR bracket covers the
     * part; the zap clears the entries under the page-table lock with the mmu_gather, as munmap's
     * ({@code invalidateRange} once the lock is dropped, then the full end), and
     * {@code tlb_finish_mmu} frees the frames last. The area stays: page faults, which hold the
     * mmap lock for read too, run beside the zap and may refill a page it cleared before its
     * flush; the old translation then stays in its window until that flush, and the zap frees
     * only the frames it cleared. Strict: the same zap in the strict order.
     */
    public void madviseDontneed(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapReadLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return;
            }
            int from = v.start() + rng.nextInt(v.length());
            int to = partEnd(v, from, rng);
            zap(p, from, to, MmuNotifierEvent.CLEAR, st);
        } finally {
            p.mm.mmapReadUnlock();
        }
        st.count(Op.MADV_DONTNEED);
    }

    /** {@code madvise(MADV_DONTNEED)} of pages {@code [from, to)} of one area, as {@link #madviseDontneed} does it. */
    public void madviseDontneedRange(Process p, int from, int to, Stats st) {
        p.mm.mmapReadLock();
        try {
            zap(p, from, to, MmuNotifierEvent.CLEAR, st);
        } finally {
            p.mm.mmapReadUnlock();
        }
        st.count(Op.MADV_DONTNEED);
    }

    /**
     * mprotect of a random part of a random area to the other protection (PROTECTION_VMA).
     * Removing write permission write-protects the present entries; adding it changes only the
     * area (entries become writable on the next write fault). 5.4 ({@code change_protection}):
     * no {@code invalidateRange} under the lock; the full end flushes the secondary TLBs, and the
     * primary's {@code flush_tlb_range} comes after it. Strict: {@code invalidateRange} under the
     * lock and the only-end.
     */
    public void mprotect(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        int from;
        int to;
        int prot;
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                p.mm.mmapWriteUnlock();
                return;
            }
            from = v.start() + rng.nextInt(v.length());
            to = partEnd(v, from, rng);
            prot = v.writable() ? VmaList.PROT_READ : VmaList.PROT_READ | VmaList.PROT_WRITE;
        } catch (RuntimeException | Error e) {
            p.mm.mmapWriteUnlock();
            throw e;
        }
        mprotectWriteLocked(p, from, to, prot, st);
    }

    /**
     * mprotect of pages {@code [from, to)} of one area to read-only or read-write, as
     * {@link #mprotect} does it.
     */
    public void mprotectRange(Process p, int from, int to, boolean writable, Stats st) {
        p.mm.mmapWriteLock();
        mprotectWriteLocked(p, from, to, VmaList.PROT_READ | (writable ? VmaList.PROT_WRITE : 0), st);
    }

    /** The body of {@link #mprotect}: the caller holds the mmap write lock, which this drops. */
    private void mprotectWriteLocked(Process p, int from, int to, int prot, Stats st) {
        try {
            thp.splitPartial(p, from, to, st); // mprotect_fixup -> split_vma -> vma_adjust_trans_huge
            MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(from), addr(to), MmuNotifierEvent.PROTECTION_VMA, true);
            boolean linux = order == KernelOrder.LINUX_5_4;
            long t0 = beginInvalidation(range);
            long[] windows = st.windows(to - from);
            int n = 0;
            PageTable t = p.table;
            t.lock();
            try {
                if ((prot & VmaList.PROT_WRITE) == 0) {
                    for (int vp = from; vp < to; vp++) {
                        if (t.frameLocked(vp) >= 0 && (t.flagsLocked(vp) & PageTable.WRITE) != 0) {
                            windows[n++] = window(vp, t.markStaleLocked(vp));
                            t.setFlagsLocked(vp, t.flagsLocked(vp) & ~PageTable.WRITE);
                        }
                    }
                }
                if (!linux) {
                    PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
                    closeWindows(t, windows, 0, n);
                }
            } finally {
                t.unlock();
            }
            endInvalidation(range, t0, st, !linux); // 5.4: the full end flushes the secondary TLBs
            if (linux) { // flush_tlb_range, after the end
                closeWindowsLocking(t, windows, n);
            }
            p.vmas.protect(from, to, prot);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MPROTECT);
    }

    // ------------------------------------------------------------------ write protection for writeback and soft-dirty

    /**
     * page_mkclean of a random page (writeback cleaning it): 5.4's {@code page_mkclean} →
     * {@code rmap_walk} → {@code page_mkclean_one}, which holds no mmap lock (the page lock and
     * the rmap walk; here the rmap lock for read, as reclaim). For the one mapping of the page
     * in this process (the simulator keeps no reverse map; 5.4 visits every mapping of the page):
     * a blockable PROTECTION_PAGE bracket over the page (over its whole block if it is mapped
     * huge: the range is {@code page_size(page)}, and the PMD is write-protected and cleaned
     * whole); under the page-table lock, if the entry is writable or dirty, {@code ptep_clear_flush} (the primary flush) and {@code set_pte_at}
     * of the entry write-protected and clean, with no {@code invalidateRange} (a downgrade does
     * not need one: 0f10851ea475, "mm/mmu_notifier: avoid double notification when it is
     * useless"); the full end flushes the secondary TLBs, which closes the window. The next write
     * faults and makes the entry writable and dirty again with no notifier call. Strict:
     * {@code invalidateRange} under the lock and the only-end.
     */
    public void pageMkclean(Process p, SplittableRandom rng, Stats st) {
        VmaList.Vma v = p.vmas.randomUnlocked(rng);
        if (v == null) {
            return;
        }
        int vpage = v.start() + rng.nextInt(v.length());
        boolean linux = order == KernelOrder.LINUX_5_4;
        PageTable t = p.table;
        p.rmapLock.readLock().lock();
        try {
            int f;
            boolean huge;
            t.lock();
            try {
                f = t.frameLocked(vpage);
                huge = f >= 0 && t.pmdLocked(PageTable.blockOf(vpage)) == PageTable.PMD_HUGE;
            } finally {
                t.unlock();
            }
            if (f < 0) {
                return; // not mapped here: the rmap walk does not visit this mm
            }
            st.count(Op.PAGE_MKCLEAN);
            // A huge page is cleaned whole: the range is page_size(page), the PMD write-protected.
            int from = huge ? PageTable.blockStart(PageTable.blockOf(vpage)) : vpage;
            int to = huge ? from + PageTable.HPAGE_PAGES : vpage + 1;
            MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(from), addr(to), MmuNotifierEvent.PROTECTION_PAGE, true);
            long t0 = beginInvalidation(range);
            long[] windows = st.windows(to - from);
            int n = 0;
            t.lock();
            try {
                boolean same = huge ? t.pmdLocked(PageTable.blockOf(vpage)) == PageTable.PMD_HUGE : t.frameLocked(vpage) == f;
                for (int vp = from; same && vp < to; vp++) {
                    int fl = t.flagsLocked(vp);
                    if ((fl & (PageTable.WRITE | PageTable.DIRTY)) != 0) {
                        windows[n++] = window(vp, t.markStaleLocked(vp));
                        t.setFlagsLocked(vp, fl & ~(PageTable.WRITE | PageTable.DIRTY)); // ptep_clear_flush, set_pte_at
                    }
                }
                if (!linux && n > 0) {
                    PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
                    closeWindows(t, windows, 0, n);
                    n = 0;
                }
            } finally {
                t.unlock();
            }
            endInvalidation(range, t0, st, !linux); // 5.4: the full end flushes the secondary TLBs
            if (n > 0) {
                closeWindowsLocking(t, windows, n);
            }
        } finally {
            p.rmapLock.readLock().unlock();
        }
    }

    /**
     * Writing 4 to {@code /proc/PID/clear_refs} (5.4's {@code clear_refs_write} with
     * {@code CLEAR_REFS_SOFT_DIRTY}): the mmap lock for read, taken for write for a moment first
     * if some area has {@code VM_SOFTDIRTY} (to clear it) and then downgraded; a fullmm
     * mmu_gather; a blockable SOFT_DIRTY bracket over the whole address space
     * ({@code [0, ULONG_MAX)}, no vma); the page walk write-protects every present entry and
     * clears its soft-dirty bit under the page-table lock ({@code clear_soft_dirty}:
     * {@code ptep_modify_prot_start}/{@code _commit}, no flush); the full end flushes the
     * secondary TLBs; then {@code tlb_finish_mmu} flushes the primary TLB ({@code flush_tlb_mm},
     * after the end) and, the gather being fullmm with its range reset to {@code ~0},
     * calls {@code invalidateRange(~0, ~0)}, an empty range. The windows close after that flush.
     * Page faults run beside the walk; the next write to a page faults and makes it writable,
     * dirty and soft-dirty again with no notifier call. Strict: {@code invalidateRange} over the
     * whole range under the lock after the walk, and the only-end.
     */
    public void clearRefsSoftDirty(Process p, Stats st) {
        boolean linux = order == KernelOrder.LINUX_5_4;
        p.mm.mmapReadLock();
        try {
            if (p.vmas.softDirty()) {
                p.mm.mmapReadUnlock();
                p.mm.mmapWriteLock();
                p.vmas.clearSoftDirty(); // vm_flags &= ~VM_SOFTDIRTY; vma_set_page_prot
                p.mm.mmapWriteDowngrade();
            }
            MmuNotifierRange range = new MmuNotifierRange(p.mm, 0, -1L, MmuNotifierEvent.SOFT_DIRTY, true);
            long t0 = beginInvalidation(range);
            long[] windows = st.windows(pages);
            int n = 0;
            PageTable t = p.table;
            t.lock();
            try {
                for (int vp = 0; vp < pages; vp++) {
                    if (t.frameLocked(vp) < 0) {
                        continue;
                    }
                    int fl = t.flagsLocked(vp);
                    if ((fl & PageTable.WRITE) != 0) {
                        windows[n++] = window(vp, t.markStaleLocked(vp));
                    }
                    t.setFlagsLocked(vp, fl & ~(PageTable.WRITE | PageTable.SOFT_DIRTY));
                }
                if (!linux) {
                    PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
                    closeWindows(t, windows, 0, n);
                }
            } finally {
                t.unlock();
            }
            endInvalidation(range, t0, st, !linux);
            if (linux) { // tlb_finish_mmu: flush_tlb_mm, then the fullmm gather's empty range
                PrimaryMmu.invalidateRange(p.mm, -1L, -1L);
                closeWindowsLocking(t, windows, n);
            }
        } finally {
            p.mm.mmapReadUnlock();
        }
        st.count(Op.SOFT_DIRTY);
    }

    // ------------------------------------------------------------------ faults

    /**
     * A CPU page fault on a random page of a random area, chosen from a snapshot of the areas as
     * a program picks an address (the fault itself takes the mmap lock).
     */
    public void cpuFault(Process p, SplittableRandom rng, Stats st) {
        VmaList.Vma v = p.vmas.randomUnlocked(rng);
        if (v == null) {
            return;
        }
        int vpage = v.start() + rng.nextInt(v.length());
        boolean write = v.writable() && rng.nextBoolean();
        fault(p, vpage, write, st);
    }

    /**
     * A fault on behalf of a secondary MMU ({@code hmm_range_fault}, {@code get_user_pages}).
     *
     * @return the translation as a {@link Mirror} entry, or 0 if the fault was refused
     */
    public long faultForSecondary(Process p, int vpage, boolean write, Stats st) {
        return fault(p, vpage, write, st);
    }

    /** {@link #hmmRangeFault}: every page of the range is in {@code pfns}. */
    public static final int HMM_OK = 0;
    /** {@link #hmmRangeFault}: the subscription's sequence changed; read again ({@code -EBUSY}). */
    public static final int HMM_BUSY = -16;
    /** {@link #hmmRangeFault}: a page could not be faulted in ({@code -EFAULT}). */
    public static final int HMM_EFAULT = -14;

    /**
     * An {@code hmm_range_fault}-like walk (Linux 5.5+ {@code mm/hmm.c}): fills {@code pfns[i]}
     * with the translation of page {@code fromPage + i}, for every page of
     * {@code [fromPage, toPage)}, faulting in what is missing, on behalf of a driver that mirrors
     * the range under an interval subscription.
     *
     * <p>What is modelled, by the kernel's names:
     * <ul>
     *   <li>the whole walk runs under the mmap read lock (in the kernel the caller takes it around
     *       {@code hmm_range_fault}; here the walk takes it);</li>
     *   <li>{@code hmm_range_fault} loops over {@code walk_page_range} passes and returns
     *       {@code -EBUSY} when {@code mmu_interval_check_retry(range->notifier, range->notifier_seq)}
     *       says the subscription's sequence moved; here that check is made before each page (every
     *       pass of the kernel starts where the last one stopped, {@code hmm_vma_walk->last});</li>
     *   <li>{@code hmm_vma_walk_pmd} / {@code hmm_vma_handle_pte} snapshot a present entry under the
     *       page-table lock (frame, generation, write flag, in {@link Mirror}'s encoding). Every page
     *       is asked for (the {@code HMM_PFN_REQ_FAULT} flag of every entry, and
     *       {@code HMM_PFN_REQ_WRITE} too when {@code write}): an entry that is missing, a migration
     *       entry, or write-protected for a write makes {@code hmm_vma_fault} call
     *       {@code handle_mm_fault} (here {@link #fault}'s body, under the same read lock) for
     *       every page from there to the end of the page-table block, after which the pass returns
     *       {@code -EBUSY} internally and the walk starts again at that page. A fault that breaks
     *       copy-on-write raises an invalidation of the caller's own range, so the next check
     *       answers busy, as in the kernel: the caller retries, and finds the pages writable;</li>
     *   <li>{@code hmm_vma_walk_hole} without an area, or a write to an area without write
     *       permission ({@code hmm_vma_walk_test}, {@code hmm_pte_need_fault}), and a fault that
     *       fails ({@code VM_FAULT_ERROR}: SIGBUS after the OOM reaper, no frame) fail the whole call
     *       with {@code -EFAULT}; the pages already in {@code pfns} must not be used.</li>
     * </ul>
     * Not modelled: device-private entries and their owner (5.8+), huge-page entries reported
     * whole ({@code hmm_vma_handle_pmd}: each subpage is reported here), the snapshot-only mode
     * without fault flags, and the per-entry {@code HMM_PFN_ERROR} of a snapshot.
     *
     * <p><b>Context:</b> the caller has pinned {@code p} (a user reference, as the kernel's
     * {@code mmget_not_zero}), holds no mmap lock and no driver lock; may block.
     *
     * @param sub the caller's subscription, whose sequence {@code seq} came from
     *     {@link MmuIntervalNotifier#readBegin()}
     * @return {@link #HMM_OK}, {@link #HMM_BUSY} or {@link #HMM_EFAULT}
     */
    public int hmmRangeFault(Process p, int fromPage, int toPage, boolean write, long[] pfns,
            MmuIntervalNotifier sub, long seq, Stats st) {
        return hmmWalk(p, fromPage, toPage, true, write, pfns, sub, seq, st);
    }

    /**
     * {@link #hmmRangeFault} without fault flags ({@code hmm_range_fault} with no
     * {@code HMM_PFN_REQ_FAULT}, as {@code dmirror_range_snapshot} calls it): every page is
     * snapshotted as it is, nothing is faulted in; a page with no area or no present entry (a
     * migration entry included) is reported as 0 ({@code HMM_PFN_ERROR} or none), and is no
     * error for the call.
     *
     * @return {@link #HMM_OK} or {@link #HMM_BUSY}
     */
    public int hmmRangeSnapshot(Process p, int fromPage, int toPage, long[] pfns, MmuIntervalNotifier sub, long seq,
            Stats st) {
        return hmmWalk(p, fromPage, toPage, false, false, pfns, sub, seq, st);
    }

    private int hmmWalk(Process p, int fromPage, int toPage, boolean fault, boolean write, long[] pfns,
            MmuIntervalNotifier sub, long seq, Stats st) {
        if (fromPage < 0 || toPage > pages || fromPage > toPage || pfns.length < toPage - fromPage) {
            throw new IllegalArgumentException("hmmRangeFault [" + fromPage + ", " + toPage + ") with " + pfns.length
                    + " pfns in an address space of " + pages + " pages");
        }
        p.mm.mmapReadLock();
        try {
            int vp = fromPage;
            while (vp < toPage) {
                if (sub.checkRetry(seq)) { // hmm_range_fault: mmu_interval_check_retry before each pass
                    return HMM_BUSY;
                }
                VmaList.Vma v = p.vmas.find(vp);
                if (v == null && !fault) { // hmm_vma_walk_hole without fault flags: HMM_PFN_ERROR
                    pfns[vp - fromPage] = 0;
                    vp++;
                    continue;
                }
                if (v == null || (write && !v.writable())) { // hmm_vma_walk_hole / hmm_vma_walk_test
                    return HMM_EFAULT;
                }
                PageTable t = p.table;
                long snap = 0;
                t.lock();
                try {
                    if (!t.migrationEntryLocked(vp)) {
                        int f = t.frameLocked(vp);
                        if (f >= 0) {
                            boolean w = (t.flagsLocked(vp) & PageTable.WRITE) != 0;
                            if (!write || w) { // hmm_pte_need_fault: no fault needed
                                snap = Mirror.pack(f, frames.generation(f), w);
                            }
                        }
                    }
                } finally {
                    t.unlock();
                }
                if (snap != 0 || !fault) {
                    pfns[vp - fromPage] = snap;
                    vp++;
                    continue;
                }
                // hmm_vma_fault: handle_mm_fault for every page from here to the end of this
                // page-table block (the walk's [addr, end) of hmm_vma_walk_pmd), then -EBUSY:
                // the walk starts again at this page
                int blockEnd = Math.min(toPage, (vp / PageTable.HPAGE_PAGES + 1) * PageTable.HPAGE_PAGES);
                for (int fp = vp; fp < blockEnd; fp++) {
                    VmaList.Vma fv = p.vmas.find(fp);
                    if (fv == null || (write && !fv.writable())) {
                        break; // the walk reports it when it gets there
                    }
                    if (faultLocked(p, fp, write, st) == 0) {
                        return HMM_EFAULT;
                    }
                }
            }
            return HMM_OK;
        } finally {
            p.mm.mmapReadUnlock();
        }
    }

    /**
     * handle_mm_fault: fills a missing entry, or breaks copy-on-write on a write to a shared
     * frame. A fault on a migration entry waits until the migration has put the page back
     * ({@code migration_entry_wait}) and tries again.
     *
     * @return the resulting translation as a {@link Mirror} entry, or 0 if refused
     */
    long fault(Process p, int vpage, boolean write, Stats st) {
        p.mm.mmapReadLock();
        try {
            return faultLocked(p, vpage, write, st);
        } finally {
            p.mm.mmapReadUnlock();
        }
    }

    /** {@link #fault} with the mmap read lock already held by the caller ({@code handle_mm_fault} itself). */
    private long faultLocked(Process p, int vpage, boolean write, Stats st) {
        st.count(Op.PAGE_FAULT);
        {
            while (true) {
                VmaList.Vma v = p.vmas.find(vpage);
                if (v == null || (write && !v.writable())) {
                    st.count(Op.SEGV);
                    return 0;
                }
                PageTable t = p.table;
                int shared;
                t.lock();
                try {
                    if (t.migrationEntryLocked(vpage)) {
                        shared = -1;
                    } else {
                        int f = t.frameLocked(vpage);
                        if (f < 0) {
                            if (p.unstable) { // check_stable_address_space: the OOM reaper has been here
                                st.count(Op.SIGBUS);
                                return 0;
                            }
                            long huge = thp.hugeFaultLocked(p, v, vpage, write, st);
                            if (huge != 0) {
                                return huge;
                            }
                            int nf = frames.allocate();
                            if (nf < 0) {
                                st.count(Op.OOM);
                                return 0;
                            }
                            int fl = PageTable.YOUNG | (v.writable() ? PageTable.WRITE : 0) | (write ? PageTable.DIRTIED : 0);
                            t.mapLocked(vpage, nf, fl);
                            return Mirror.pack(nf, frames.generation(nf), (fl & PageTable.WRITE) != 0);
                        }
                        int fl = t.flagsLocked(vpage);
                        if (!write || (fl & PageTable.WRITE) != 0) {
                            fl |= PageTable.YOUNG | (write ? PageTable.DIRTIED : 0);
                            t.setFlagsLocked(vpage, fl);
                            return Mirror.pack(f, frames.generation(f), (fl & PageTable.WRITE) != 0);
                        }
                        if (t.pmdLocked(PageTable.blockOf(vpage)) == PageTable.PMD_HUGE) { // do_huge_pmd_wp_page
                            if (thp.wpReuseLocked(t, PageTable.blockOf(vpage))) {
                                return Mirror.pack(f, frames.generation(f), true);
                            }
                            shared = HUGE_COPY;
                        } else if (frames.mapCount(f) == 1 && !isKsmPage(f)) {
                            // Only mapping left: reuse the frame (wp_page_reuse), no notifier needed.
                            t.setFlagsLocked(vpage, fl | PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTIED);
                            return Mirror.pack(f, frames.generation(f), true);
                        } else {
                            shared = f;
                        }
                    }
                } finally {
                    t.unlock();
                }
                if (shared == HUGE_COPY) {
                    long copied = thp.wpCopy(p, vpage, st);
                    if (copied != 0) {
                        return copied;
                    }
                    continue; // the block changed or was split: fault again
                }
                if (shared >= 0) {
                    return order == KernelOrder.LINUX_5_4 ? wpPageCopy(p, vpage, shared, st) : cowBreakStrict(p, vpage, shared, st);
                }
                awaitMigration(t, vpage);
            }
        }
    }

    /** {@link #fault}'s mark for a write to a huge page that must be copied. */
    private static final int HUGE_COPY = -2;

    /** migration_entry_wait: until the entry at {@code vpage} is no migration entry. No lock held. */
    private static void awaitMigration(PageTable t, int vpage) {
        while (true) {
            t.lock();
            try {
                if (!t.migrationEntryLocked(vpage)) {
                    return;
                }
            } finally {
                t.unlock();
            }
            java.util.concurrent.locks.LockSupport.parkNanos(20_000); // the page lock's wait, roughly
        }
    }

    /**
     * 5.4's {@code wp_page_copy}: the new frame is allocated (and filled) first; then a CLEAR
     * bracket; under the page-table lock {@code ptep_clear_flush_notify} (clear the entry, then
     * {@code invalidateRange} for the page) and {@code set_pte_at_notify} ({@code changePte},
     * then the new entry); the only-end; the old frame's reference dropped last.
     */
    @SuppressWarnings("deprecation")
    private long wpPageCopy(Process p, int vpage, int shared, Stats st) {
        st.count(Op.COW_BREAK);
        int nf = frames.allocate();
        if (nf < 0) {
            st.count(Op.OOM);
            return 0;
        }
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = beginInvalidation(range);
        long result = 0;
        int old = -1;
        PageTable t = p.table;
        t.lock();
        try {
            if (t.frameLocked(vpage) == shared && (t.flagsLocked(vpage) & PageTable.WRITE) == 0) {
                long token = t.markStaleLocked(vpage);
                t.clearLocked(vpage);                            // ptep_clear_flush
                PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE); // ... _notify
                t.unmarkStaleLocked(vpage, token);
                PrimaryMmu.changePte(p.mm, a, ((long) nf << PAGE_SHIFT) | PageTable.WRITE); // set_pte_at_notify
                t.mapLocked(vpage, nf, PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTIED);
                old = shared;
                result = Mirror.pack(nf, frames.generation(nf), true);
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st, true);
        if (old >= 0) {
            frames.put(old);
        } else {
            frames.put(nf); // the entry changed meanwhile: the copy is not needed
        }
        return result;
    }

    /** The strict order's copy-on-write break: replace, invalidateRange, changePte, only-end. */
    @SuppressWarnings("deprecation")
    private long cowBreakStrict(Process p, int vpage, int shared, Stats st) {
        st.count(Op.COW_BREAK);
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = beginInvalidation(range);
        long result = 0;
        int old = -1;
        PageTable t = p.table;
        t.lock();
        try {
            if (t.frameLocked(vpage) == shared && (t.flagsLocked(vpage) & PageTable.WRITE) == 0) {
                int nf = frames.allocate();
                if (nf >= 0) {
                    long token = t.markStaleLocked(vpage);
                    t.replaceLocked(vpage, nf, PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTIED);
                    PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                    t.unmarkStaleLocked(vpage, token);
                    PrimaryMmu.changePte(p.mm, a, ((long) nf << PAGE_SHIFT) | PageTable.WRITE);
                    old = shared;
                    result = Mirror.pack(nf, frames.generation(nf), true);
                } else {
                    st.count(Op.OOM);
                }
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st, true);
        if (old >= 0) {
            frames.put(old);
        }
        return result;
    }

    /**
     * Migrates a random page, mapped once, to a new frame. Holds the mmap lock for read.
     *
     * <p>5.4 (rmap migration: {@code try_to_unmap_one} with {@code TTU_MIGRATION}, then
     * {@code remove_migration_ptes}): a CLEAR bracket (5.4 has no MIGRATE event; it came in 5.9);
     * under the lock the entry becomes a migration entry, with no {@code invalidateRange}; the
     * full end flushes the secondary TLBs; the page is copied; the new entry is installed under
     * the lock with no notifier call (the page was not present); the old frame is freed. Faults
     * on the page wait meanwhile. Strict: MIGRATE or CLEAR at random, the entry replaced in one
     * step with {@code invalidateRange} under the lock, the only-end.
     */
    public void migrate(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapReadLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return;
            }
            int vpage = v.start() + rng.nextInt(v.length());
            thp.splitAt(p, vpage, st); // a simplification: 5.4 on x86-64 would migrate the huge page whole
            if (order == KernelOrder.LINUX_5_4) {
                migrateTwoPhase(p, vpage, st);
            } else {
                migrateStrict(p, vpage, rng.nextBoolean() ? MmuNotifierEvent.MIGRATE : MmuNotifierEvent.CLEAR, st);
            }
        } finally {
            p.mm.mmapReadUnlock();
        }
        st.count(Op.MIGRATE);
    }

    private void migrateTwoPhase(Process p, int vpage, Stats st) {
        int nf = frames.allocate(); // the destination, allocated before the unmap
        if (nf < 0) {
            st.count(Op.OOM);
            return;
        }
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = beginInvalidation(range);
        int old = -1;
        long token = 0;
        PageTable t = p.table;
        t.lock();
        try {
            int f = t.frameLocked(vpage);
            if (f >= 0 && frames.mapCount(f) == 1) {
                token = t.markStaleLocked(vpage);
                old = t.installMigrationLocked(vpage); // ptep_clear_flush + set_pte_at(migration entry)
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st, false); // the full end: invalidateRange reaches the secondaries here
        if (old < 0) {
            frames.put(nf);
            return;
        }
        boolean installed = false;
        t.lock();
        try {
            t.unmarkStaleLocked(vpage, token); // the end flushed the secondary TLBs
            if (t.migrationFrameLocked(vpage) == old) { // a zap under the read lock may have dropped it
                t.removeMigrationLocked(vpage, nf); // move_to_new_page done; remove_migration_pte
                installed = true;
            }
        } finally {
            t.unlock();
        }
        if (!installed) {
            frames.put(nf);
        }
        frames.put(old);
    }

    private void migrateStrict(Process p, int vpage, MmuNotifierEvent event, Stats st) {
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, event, true);
        long t0 = beginInvalidation(range);
        int old = -1;
        PageTable t = p.table;
        t.lock();
        try {
            int f = t.frameLocked(vpage);
            if (f >= 0 && frames.mapCount(f) == 1) {
                int nf = frames.allocate();
                if (nf >= 0) {
                    long token = t.markStaleLocked(vpage);
                    t.replaceLocked(vpage, nf, t.flagsLocked(vpage));
                    PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                    t.unmarkStaleLocked(vpage, token);
                    old = f;
                }
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st, true);
        if (old >= 0) {
            frames.put(old);
        }
    }

    // ------------------------------------------------------------------ reclaim

    /**
     * One step of kswapd on a window of 16 pages, holding no mmap lock (the rmap lock for read):
     * aging ({@code clearYoung}), an idle test ({@code testYoung}), or a reclaim scan in which
     * every page that is young neither in the primary nor ({@code clearFlushYoung}) in a
     * secondary is unmapped (CLEAR).
     *
     * <p>5.4: every young callback runs per page under the page-table lock
     * ({@code ptep_clear_young_notify}, khugepaged's test, {@code ptep_clear_flush_young_notify}
     * in {@code page_referenced_one}), and its answer counts: a page found young anywhere is
     * marked referenced, which spares it the next reclaim scan. Strict: aging and the idle test
     * call over the whole window outside the lock and ignore the answers.
     */
    public void reclaimStep(Process p, SplittableRandom rng, Stats st) {
        p.rmapLock.readLock().lock();
        try {
            int mode = rng.nextInt(10);
            int from = rng.nextInt(pages);
            int to = Math.min(pages, from + 16);
            if (order == KernelOrder.LINUX_5_4) {
                reclaimStep54(p, mode, from, to, st);
            } else {
                reclaimStepStrict(p, mode, from, to, st);
            }
        } finally {
            p.rmapLock.readLock().unlock();
        }
    }

    private void reclaimStep54(Process p, int mode, int from, int to, Stats st) {
        PageTable t = p.table;
        Op op = mode < 4 ? Op.AGE : mode < 6 ? Op.TEST_YOUNG : Op.RECLAIM_SCAN;
        st.count(op);
        for (int vp = from; vp < to; vp++) {
            int f;
            boolean young;
            long a = addr(vp);
            t.lock();
            try {
                f = t.frameLocked(vp);
                if (f < 0) {
                    continue;
                }
                int fl = t.flagsLocked(vp);
                young = (fl & PageTable.YOUNG) != 0;
                switch (op) {
                    case AGE -> young |= PrimaryMmu.clearYoung(p.mm, a, a + PAGE_SIZE); // page_idle
                    case TEST_YOUNG -> young |= PrimaryMmu.testYoung(p.mm, a);          // khugepaged's scan
                    default -> young |= PrimaryMmu.clearFlushYoung(p.mm, a, a + PAGE_SIZE); // page_referenced_one
                }
                if (op == Op.RECLAIM_SCAN) {
                    young |= (fl & PageTable.REFERENCED) != 0; // one more round for a referenced page
                    t.setFlagsLocked(vp, fl & ~(PageTable.YOUNG | PageTable.REFERENCED));
                } else if (op == Op.AGE) {
                    t.setFlagsLocked(vp, (fl & ~PageTable.YOUNG) | (young ? PageTable.REFERENCED : 0));
                } else if (young) {
                    t.setFlagsLocked(vp, fl | PageTable.REFERENCED);
                }
            } finally {
                t.unlock();
            }
            if (op == Op.RECLAIM_SCAN && !young) {
                reclaimPage(p, vp, f, st);
            }
        }
    }

    private void reclaimStepStrict(Process p, int mode, int from, int to, Stats st) {
        PageTable t = p.table;
        if (mode < 4) {
            t.lock();
            try {
                for (int vp = from; vp < to; vp++) {
                    if (t.frameLocked(vp) >= 0) {
                        t.setFlagsLocked(vp, t.flagsLocked(vp) & ~PageTable.YOUNG);
                    }
                }
            } finally {
                t.unlock();
            }
            PrimaryMmu.clearYoung(p.mm, addr(from), addr(to));
            st.count(Op.AGE);
        } else if (mode < 6) {
            PrimaryMmu.testYoung(p.mm, addr(from));
            st.count(Op.TEST_YOUNG);
        } else {
            st.count(Op.RECLAIM_SCAN);
            for (int vp = from; vp < to; vp++) {
                int f;
                boolean young;
                t.lock();
                try {
                    f = t.frameLocked(vp);
                    if (f < 0) {
                        continue;
                    }
                    int fl = t.flagsLocked(vp);
                    young = (fl & PageTable.YOUNG) != 0;
                    t.setFlagsLocked(vp, fl & ~PageTable.YOUNG);
                } finally {
                    t.unlock();
                }
                long a = addr(vp);
                young |= PrimaryMmu.clearFlushYoung(p.mm, a, a + PAGE_SIZE);
                if (!young) {
                    reclaimPage(p, vp, f, st);
                }
            }
        }
    }

    /**
     * try_to_unmap_one for a page found old: a CLEAR bracket; under the lock the entry is
     * cleared and {@code invalidateRange} called for it (the swap-out path flushes there in both
     * orders); the full end in 5.4's order ({@code mmu_notifier_invalidate_range_end}), the
     * only-end in the strict one; the frame freed last.
     */
    private void reclaimPage(Process p, int vpage, int frame, Stats st) {
        thp.splitAt(p, vpage, st); // shrink_page_list: split_huge_page_to_list, try_to_unmap(TTU_SPLIT_HUGE_PMD)
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = beginInvalidation(range);
        boolean cleared = false;
        PageTable t = p.table;
        t.lock();
        try {
            if (t.frameLocked(vpage) == frame) {
                long token = t.markStaleLocked(vpage);
                t.clearLocked(vpage);
                PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                t.unmarkStaleLocked(vpage, token);
                cleared = true;
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st, order != KernelOrder.LINUX_5_4);
        if (cleared) {
            frames.put(frame);
            st.count(Op.RECLAIM);
        }
    }

    /**
     * The primary's bracket around a change of present entries, first half: announces it to the
     * secondary MMUs.
     *
     * @return the start time, for the invalidate start-to-end latency
     */
    static long beginInvalidation(MmuNotifierRange range) {
        long t0 = System.nanoTime();
        PrimaryMmu.invalidateRangeStart(range);
        return t0;
    }

    /**
     * Second half: the only-end if {@code invalidateRange} already ran for the whole range
     * under the lock ({@code invalidate_range_only_end}), else the full end; then the stats.
     */
    static void endInvalidation(MmuNotifierRange range, long t0, Stats st, boolean onlyEnd) {
        if (onlyEnd) {
            PrimaryMmu.invalidateRangeOnlyEnd(range);
        } else {
            PrimaryMmu.invalidateRangeEnd(range);
        }
        st.invalidation(range.event(), System.nanoTime() - t0);
    }
}
