package org.mmunotifier.simulator.kernel;

import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.PrimaryMmu;
import org.mmunotifier.simulator.Op;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.driver.Handle;
import org.mmunotifier.simulator.driver.Mirror;

/**
 * The primary MMU: the operations of the core mm, each raising the notifier calls that Linux 5.4
 * raises for it.
 *
 * <p>Every change to present page-table entries follows one shape:
 * <pre>
 * invalidateRangeStart(range)                  secondary MMUs drop their translations
 * page-table lock
 *     change the entries
 *     invalidateRange(mm, start, end)          secondary TLBs flush (ptep_clear_flush_notify)
 * page-table unlock
 * invalidateRangeOnlyEnd(range)                invalidate_range already ran under the lock
 * drop the old frames                          (tlb_finish_mmu: only now may they be reused)
 * </pre>
 * Filling a not-present entry (a page fault) and making a read-only entry writable for a frame
 * mapped once need no notifier call, as in the kernel: no secondary can hold a translation that
 * they invalidate.
 *
 * <p>Locking: mmap, munmap, mprotect and fork take the mmap lock for write; page faults and
 * migration take it for read; reclaim takes none (it holds the process's rmap lock for read).
 * The caller of every operation has pinned the process.
 */
public final class Kernel {
    static final int PAGE_SHIFT = 12;
    static final long PAGE_SIZE = 1L << PAGE_SHIFT;

    public final FrameAllocator frames;
    public final Checker checker;
    final int pages;
    final int maxMapPages;
    private final ConcurrentHashMap<MmStruct, Process> byMm = new ConcurrentHashMap<>();
    private final Queue<MmStruct> allMms = new ConcurrentLinkedQueue<>();
    private final AtomicInteger nextPid = new AtomicInteger(1);

    public Kernel(FrameAllocator frames, Checker checker, int pages, int maxMapPages) {
        this.frames = frames;
        this.checker = checker;
        this.pages = pages;
        this.maxMapPages = maxMapPages;
    }

    static long addr(int vpage) {
        return (long) vpage << PAGE_SHIFT;
    }

    public static int firstPage(long address) {
        return (int) Math.min(Integer.MAX_VALUE, address >>> PAGE_SHIFT);
    }

    public static int endPage(long end) {
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

    /** Creates a process with a read-only text area and a writable heap (execve). */
    public Process spawn(SplittableRandom rng, Stats st) {
        Process p = newProcess();
        p.mm.mmapWriteLock();
        try {
            p.vmas.mmap(Math.min(8, pages), VmaList.PROT_READ, rng);
            p.vmas.mmap(Math.min(Math.max(1, pages / 8), pages / 2 + 1), VmaList.PROT_READ | VmaList.PROT_WRITE, rng);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.SPAWN);
        return p;
    }

    /**
     * fork: the child gets a copy of every area; pages of writable areas are shared
     * copy-on-write, which write-protects them in the parent (PROTECTION_PAGE, as
     * {@code copy_page_range} does for a COW mapping).
     */
    @SuppressWarnings("deprecation")
    public Process fork(Process parent, Stats st) {
        Process child = newProcess();
        parent.mm.mmapWriteLock();
        try {
            child.vmas.copyFrom(parent.vmas);
            for (VmaList.Vma v : parent.vmas.all()) {
                boolean cow = v.writable();
                MmuNotifierRange range = null;
                long t0 = 0;
                if (cow) {
                    range = new MmuNotifierRange(parent.mm, addr(v.start()), addr(v.end()), MmuNotifierEvent.PROTECTION_PAGE, true);
                    t0 = beginInvalidation(range);
                }
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
                        if (cow) {
                            fl &= ~PageTable.WRITE;
                            parent.table.setFlagsLocked(vp, fl);
                        }
                        child.table.mapLocked(vp, f, fl);
                    }
                    if (cow) {
                        PrimaryMmu.invalidateRange(parent.mm, range.start(), range.end());
                    }
                } finally {
                    child.table.unlock();
                    parent.table.unlock();
                }
                if (cow) {
                    endInvalidation(range, t0, st);
                }
            }
        } finally {
            parent.mm.mmapWriteUnlock();
        }
        st.count(Op.FORK);
        return child;
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
     * unlink and a grace period. Every page is unmapped with an {@code UNMAP} range, as 5.4's
     * {@code unmap_vmas} raises (no list notifier is linked any more to receive it), and every
     * frame dropped.
     */
    void exitMmap(Process p, Stats st) {
        MmuNotifierRange range = new MmuNotifierRange(p.mm, 0, addr(pages), MmuNotifierEvent.UNMAP, true);
        long t0 = beginInvalidation(range);
        int n = 0;
        int[] buf = st.scratch(pages);
        p.table.lock();
        try {
            for (int vp = 0; vp < pages; vp++) {
                if (p.table.frameLocked(vp) >= 0) {
                    buf[n++] = p.table.clearLocked(vp);
                }
            }
            PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
        } finally {
            p.table.unlock();
        }
        endInvalidation(range, t0, st);
        for (int i = 0; i < n; i++) {
            frames.put(buf[i]);
        }
        p.vmas.unmap(0, pages);
        byMm.remove(p.mm);
    }

    // ------------------------------------------------------------------ address-space changes

    /** mmap: a new anonymous area, writable three times in four. */
    public void mmap(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        try {
            int len = 1 + rng.nextInt(maxMapPages);
            int prot = rng.nextInt(4) == 0 ? VmaList.PROT_READ : VmaList.PROT_READ | VmaList.PROT_WRITE;
            p.vmas.mmap(Math.min(len, pages), prot, rng);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MMAP);
    }

    /** munmap of a random part of a random area (UNMAP). */
    public void munmap(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return;
            }
            int from = v.start() + rng.nextInt(v.length());
            int to = from + 1 + rng.nextInt(v.end() - from);
            MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(from), addr(to), MmuNotifierEvent.UNMAP, true);
            long t0 = beginInvalidation(range);
            int n = 0;
            int[] buf = st.scratch(pages);
            p.table.lock();
            try {
                for (int vp = from; vp < to; vp++) {
                    if (p.table.frameLocked(vp) >= 0) {
                        buf[n++] = p.table.clearLocked(vp);
                    }
                }
                PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
            } finally {
                p.table.unlock();
            }
            endInvalidation(range, t0, st);
            for (int i = 0; i < n; i++) {
                frames.put(buf[i]);
            }
            p.vmas.unmap(from, to);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MUNMAP);
    }

    /**
     * mprotect of a random part of a random area to the other protection (PROTECTION_VMA).
     * Removing write permission write-protects the present entries; adding it changes only the
     * area (entries become writable on the next write fault).
     */
    public void mprotect(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapWriteLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return;
            }
            int from = v.start() + rng.nextInt(v.length());
            int to = from + 1 + rng.nextInt(v.end() - from);
            int prot = v.writable() ? VmaList.PROT_READ : VmaList.PROT_READ | VmaList.PROT_WRITE;
            MmuNotifierRange range = new MmuNotifierRange(p.mm, addr(from), addr(to), MmuNotifierEvent.PROTECTION_VMA, true);
            long t0 = beginInvalidation(range);
            p.table.lock();
            try {
                if ((prot & VmaList.PROT_WRITE) == 0) {
                    for (int vp = from; vp < to; vp++) {
                        if (p.table.frameLocked(vp) >= 0) {
                            p.table.setFlagsLocked(vp, p.table.flagsLocked(vp) & ~PageTable.WRITE);
                        }
                    }
                }
                PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
            } finally {
                p.table.unlock();
            }
            endInvalidation(range, t0, st);
            p.vmas.protect(from, to, prot);
        } finally {
            p.mm.mmapWriteUnlock();
        }
        st.count(Op.MPROTECT);
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

    /**
     * handle_mm_fault: fills a missing entry, or breaks copy-on-write on a write to a shared
     * frame (CLEAR, with change_pte as {@code set_pte_at_notify} at 5.4).
     *
     * @return the resulting translation as a {@link Mirror} entry, or 0 if refused
     */
    long fault(Process p, int vpage, boolean write, Stats st) {
        st.count(Op.PAGE_FAULT);
        p.mm.mmapReadLock();
        try {
            VmaList.Vma v = p.vmas.find(vpage);
            if (v == null || (write && !v.writable())) {
                st.count(Op.SEGV);
                return 0;
            }
            PageTable t = p.table;
            int shared;
            t.lock();
            try {
                int f = t.frameLocked(vpage);
                if (f < 0) {
                    int nf = frames.allocate();
                    if (nf < 0) {
                        st.count(Op.OOM);
                        return 0;
                    }
                    int fl = PageTable.YOUNG | (v.writable() ? PageTable.WRITE : 0) | (write ? PageTable.DIRTY : 0);
                    t.mapLocked(vpage, nf, fl);
                    return Mirror.pack(nf, frames.generation(nf), (fl & PageTable.WRITE) != 0);
                }
                int fl = t.flagsLocked(vpage);
                if (!write || (fl & PageTable.WRITE) != 0) {
                    fl |= PageTable.YOUNG | (write ? PageTable.DIRTY : 0);
                    t.setFlagsLocked(vpage, fl);
                    return Mirror.pack(f, frames.generation(f), (fl & PageTable.WRITE) != 0);
                }
                if (frames.mapCount(f) == 1) {
                    // Only mapping left: reuse the frame (wp_page_reuse), no notifier needed.
                    t.setFlagsLocked(vpage, fl | PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTY);
                    return Mirror.pack(f, frames.generation(f), true);
                }
                shared = f;
            } finally {
                t.unlock();
            }
            return cowBreak(p, vpage, shared, st);
        } finally {
            p.mm.mmapReadUnlock();
        }
    }

    @SuppressWarnings("deprecation")
    private long cowBreak(Process p, int vpage, int shared, Stats st) {
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
                    t.replaceLocked(vpage, nf, PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTY);
                    PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
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
        endInvalidation(range, t0, st);
        if (old >= 0) {
            frames.put(old);
        }
        return result;
    }

    /**
     * Migrates a random page, mapped once, to a new frame: MIGRATE (migrate_vma) or CLEAR
     * (rmap-based migration, try_to_unmap), chosen at random. Holds the mmap lock for read.
     */
    public void migrate(Process p, SplittableRandom rng, Stats st) {
        p.mm.mmapReadLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return;
            }
            int vpage = v.start() + rng.nextInt(v.length());
            MmuNotifierEvent event = rng.nextBoolean() ? MmuNotifierEvent.MIGRATE : MmuNotifierEvent.CLEAR;
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
                        t.replaceLocked(vpage, nf, t.flagsLocked(vpage));
                        PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                        old = f;
                    }
                }
            } finally {
                t.unlock();
            }
            endInvalidation(range, t0, st);
            if (old >= 0) {
                frames.put(old);
            }
        } finally {
            p.mm.mmapReadUnlock();
        }
        st.count(Op.MIGRATE);
    }

    // ------------------------------------------------------------------ reclaim

    /**
     * One step of kswapd on a window of 16 pages, holding no mmap lock (the rmap lock for read):
     * aging (clearYoung), an idle test (testYoung), or a reclaim scan in which every page that is
     * young neither in the primary nor (clearFlushYoung) in a secondary is unmapped (CLEAR).
     */
    public void reclaimStep(Process p, SplittableRandom rng, Stats st) {
        p.rmapLock.readLock().lock();
        try {
            int mode = rng.nextInt(10);
            int from = rng.nextInt(pages);
            int to = Math.min(pages, from + 16);
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
        } finally {
            p.rmapLock.readLock().unlock();
        }
    }

    private void reclaimPage(Process p, int vpage, int frame, Stats st) {
        long a = addr(vpage);
        MmuNotifierRange range = new MmuNotifierRange(p.mm, a, a + PAGE_SIZE, MmuNotifierEvent.CLEAR, true);
        long t0 = beginInvalidation(range);
        boolean cleared = false;
        PageTable t = p.table;
        t.lock();
        try {
            if (t.frameLocked(vpage) == frame) {
                t.clearLocked(vpage);
                PrimaryMmu.invalidateRange(p.mm, a, a + PAGE_SIZE);
                cleared = true;
            }
        } finally {
            t.unlock();
        }
        endInvalidation(range, t0, st);
        if (cleared) {
            frames.put(frame);
            st.count(Op.RECLAIM);
        }
    }

    /**
     * The primary's bracket around a change of present entries, first half: announces it to the
     * secondary MMUs. The caller then changes the entries and calls invalidateRange under the
     * page-table lock, and ends with {@link #endInvalidation}.
     *
     * @return the start time, for the invalidate start-to-end latency
     */
    private static long beginInvalidation(MmuNotifierRange range) {
        long t0 = System.nanoTime();
        PrimaryMmu.invalidateRangeStart(range);
        return t0;
    }

    /** Second half: invalidateRange already ran under the lock, so only the end; then the stats. */
    private static void endInvalidation(MmuNotifierRange range, long t0, Stats st) {
        PrimaryMmu.invalidateRangeOnlyEnd(range);
        st.record(Stats.Latency.INVALIDATE, System.nanoTime() - t0);
        st.invalidation(range.event());
    }
}
