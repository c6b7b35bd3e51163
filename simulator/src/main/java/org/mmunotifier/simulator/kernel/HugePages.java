package org.mmunotifier.simulator.kernel;

import static org.mmunotifier.simulator.kernel.Kernel.addr;
import static org.mmunotifier.simulator.kernel.PageTable.HPAGE_PAGES;
import static org.mmunotifier.simulator.kernel.PageTable.PMD_HUGE;
import static org.mmunotifier.simulator.kernel.PageTable.PMD_NONE;
import static org.mmunotifier.simulator.kernel.PageTable.PMD_TABLE;
import static org.mmunotifier.simulator.kernel.PageTable.blockOf;
import static org.mmunotifier.simulator.kernel.PageTable.blockStart;

import java.util.SplittableRandom;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.PrimaryMmu;
import org.mmunotifier.simulator.Op;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.driver.Mirror;

/**
 * Transparent huge pages as Linux 5.4 runs them for private anonymous memory
 * ({@code mm/huge_memory.c}, {@code mm/khugepaged.c}), with {@code enabled=always} and
 * {@code use_zero_page=0}: a block of {@value PageTable#HPAGE_PAGES} pages (2 MiB) that lies
 * wholly inside one area may be mapped by one huge PMD.
 *
 * <ul>
 *   <li><b>Huge fault</b> ({@code do_huge_pmd_anonymous_page}): the first fault in a block whose
 *       PMD is empty maps a whole huge page, dirty, young, writable if the area is; no notifier
 *       call (a new mapping). If no huge page can be had, the fault falls back to one page.</li>
 *   <li><b>Split</b> ({@code __split_huge_pmd}): a blockable CLEAR bracket over the block; under
 *       the lock the huge PMD becomes a table of entries to the same subpages with the same bits;
 *       the only-end, and no {@code invalidateRange} at all: every translation a secondary holds
 *       is still valid. A change to part of a huge block splits it first: a partial munmap,
 *       mprotect or mremap ({@code vma_adjust_trans_huge}), a partial zap ({@code zap_pmd_range},
 *       nested in the zap's own bracket), and, where this simulator simplifies, a migration, a
 *       reclaim or a KSM merge of a page in it.</li>
 *   <li><b>Collapse</b> ({@code khugepaged_scan_pmd}, {@code collapse_huge_page}): see
 *       {@link #khugepaged}.</li>
 *   <li><b>Copy-on-write</b> ({@code do_huge_pmd_wp_page}): a huge page mapped once is made
 *       writable in place; otherwise a new huge page is allocated, and in a CLEAR bracket over the
 *       block {@code pmdp_huge_clear_flush_notify} (the entry cleared, then
 *       {@code invalidateRange} for the block, under the lock) and {@code set_pmd_at} of the new
 *       page, then the only-end; the old page's mapping dropped last. If no huge page can be had,
 *       the block is split and the fault retried on one page (5.4's fallback also needs 512
 *       pages, so it fails alike).</li>
 *   <li>A whole huge block is zapped, write-protected, cleaned and copied at fork entry by entry
 *       inside the operation's own bracket, as 5.4 does it on the PMD ({@code zap_huge_pmd},
 *       {@code change_huge_pmd}, {@code copy_huge_pmd}); a zapped block's PMD becomes empty.</li>
 * </ul>
 *
 * <p>Not modelled (docs/simulator.md lists them): the huge zero page, swap of whole huge pages,
 * PMD migration entries (a migration splits the block instead), and young callbacks over a
 * whole block (aging calls them page by page, which clears the same bits).
 *
 * <p>Both kernel orders run these paths the same way, except the collapse's flush (strict:
 * {@code invalidateRange} under the lock and the only-end).
 */
final class HugePages {
    private final Kernel kernel;
    private final FrameAllocator frames;

    HugePages(Kernel kernel) {
        this.kernel = kernel;
        this.frames = kernel.frames;
    }

    /** @return whether area {@code v} holds the whole aligned block of {@code vpage} ({@code transhuge_vma_suitable}) */
    static boolean suitable(VmaList.Vma v, int vpage, int pages) {
        int from = blockStart(blockOf(vpage));
        return from >= v.start() && from + HPAGE_PAGES <= v.end() && from + HPAGE_PAGES <= pages;
    }

    // ------------------------------------------------------------------ faults

    /**
     * {@code do_huge_pmd_anonymous_page}, from a fault on an empty entry of {@code vpage} with the
     * mmap lock held for read and the page-table lock held: maps a huge page if the block's PMD is
     * empty and the area holds the whole block.
     *
     * @return the translation of {@code vpage} as a {@link Mirror} entry, or 0 to fall back to one page
     */
    long hugeFaultLocked(Process p, VmaList.Vma v, int vpage, boolean write, Stats st) {
        PageTable t = p.table;
        int b = blockOf(vpage);
        if (t.pmdLocked(b) != PMD_NONE || !suitable(v, vpage, t.pages())) {
            return 0;
        }
        int[] page = allocateHuge();
        if (page == null) {
            return 0; // THP_FAULT_FALLBACK
        }
        int from = blockStart(b);
        int fl = PageTable.YOUNG | PageTable.DIRTIED | (v.writable() ? PageTable.WRITE : 0); // pmd_mkdirty, maybe_pmd_mkwrite
        for (int i = 0; i < HPAGE_PAGES; i++) {
            t.mapLocked(from + i, page[i], fl);
        }
        t.setPmdLocked(b, PMD_HUGE);
        st.count(Op.THP_FAULT);
        int f = page[vpage - from];
        return Mirror.pack(f, frames.generation(f), (fl & PageTable.WRITE) != 0);
    }

    /**
     * {@code do_huge_pmd_wp_page}'s reuse, page-table lock held: a write fault on a write-protected
     * huge page that this mapping alone holds makes the whole block writable, dirty and young,
     * with no notifier call.
     *
     * @return whether the block was reused; false: it must be copied ({@link #wpCopy})
     */
    boolean wpReuseLocked(PageTable t, int b) {
        int from = blockStart(b);
        for (int vp = from; vp < from + HPAGE_PAGES; vp++) {
            int f = t.frameLocked(vp);
            if (frames.mapCount(f) != 1 || kernel.isKsmPage(f)) {
                return false;
            }
        }
        for (int vp = from; vp < from + HPAGE_PAGES; vp++) {
            t.setFlagsLocked(vp, t.flagsLocked(vp) | PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTIED);
        }
        return true;
    }

    /**
     * {@code do_huge_pmd_wp_page}'s copy: see the class comment. Mmap lock held for read.
     *
     * @return the new translation of {@code vpage}, or 0 if the block changed meanwhile or had to
     *     be split: the caller retries the fault
     */
    @SuppressWarnings("deprecation")
    long wpCopy(Process p, int vpage, Stats st) {
        PageTable t = p.table;
        int b = blockOf(vpage);
        int from = blockStart(b);
        int[] old = new int[HPAGE_PAGES];
        t.lock();
        try {
            if (t.pmdLocked(b) != PMD_HUGE) {
                return 0;
            }
            for (int i = 0; i < HPAGE_PAGES; i++) {
                old[i] = t.frameLocked(from + i);
            }
        } finally {
            t.unlock();
        }
        int[] page = allocateHuge();
        if (page == null) { // do_huge_pmd_wp_page_fallback fails alike: split_huge_pmd, VM_FAULT_FALLBACK
            split(p, b, st);
            return 0;
        }
        st.count(Op.THP_COW);
        MmuNotifierRange range = blockRange(p, b, MmuNotifierEvent.CLEAR);
        long t0 = Kernel.beginInvalidation(range);
        boolean replaced = false;
        t.lock();
        try {
            if (sameHugeLocked(t, b, old)) { // pmd_same(*pmd, orig_pmd)
                long[] tokens = new long[HPAGE_PAGES];
                for (int i = 0; i < HPAGE_PAGES; i++) {
                    tokens[i] = t.markStaleLocked(from + i);
                    t.clearLocked(from + i);                         // pmdp_huge_clear_flush_notify:
                }
                t.setPmdLocked(b, PMD_NONE);
                PrimaryMmu.invalidateRange(p.mm, range.start(), range.end()); // ... its _notify
                for (int i = 0; i < HPAGE_PAGES; i++) {
                    t.unmarkStaleLocked(from + i, tokens[i]);
                    t.mapLocked(from + i, page[i], PageTable.WRITE | PageTable.YOUNG | PageTable.DIRTIED); // set_pmd_at
                }
                t.setPmdLocked(b, PMD_HUGE);
                replaced = true;
            }
        } finally {
            t.unlock();
        }
        Kernel.endInvalidation(range, t0, st, true); // the only-end: _notify flushed already
        int[] drop = replaced ? old : page; // page_remove_rmap of the old page, or the unused new one
        for (int f : drop) {
            frames.put(f);
        }
        return replaced ? Mirror.pack(page[vpage - from], frames.generation(page[vpage - from]), true) : 0;
    }

    private static boolean sameHugeLocked(PageTable t, int b, int[] frames) {
        if (t.pmdLocked(b) != PMD_HUGE) {
            return false;
        }
        int from = blockStart(b);
        for (int i = 0; i < HPAGE_PAGES; i++) {
            if (t.frameLocked(from + i) != frames[i]) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ split

    /**
     * {@code split_huge_pmd}: if block {@code b} is mapped huge, {@code __split_huge_pmd} (see the
     * class comment). Looks at the PMD without the lock first, as the kernel does, so a block that
     * is not huge costs one load; the split checks again under the lock. Any lock but the
     * page-table lock may be held; blocks.
     */
    void split(Process p, int b, Stats st) {
        PageTable t = p.table;
        if (t.pmdUnlocked(b) != PMD_HUGE) { // the split_huge_pmd macro's unlocked test
            return;
        }
        MmuNotifierRange range = blockRange(p, b, MmuNotifierEvent.CLEAR);
        long t0 = Kernel.beginInvalidation(range);
        t.lock();
        try {
            if (t.pmdLocked(b) == PMD_HUGE) { // __split_huge_pmd_locked: the same subpages, the same bits
                t.setPmdLocked(b, PMD_TABLE);
                st.count(Op.THP_SPLIT);
            }
        } finally {
            t.unlock();
        }
        // No invalidateRange: the secondaries' translations of the subpages all stay valid.
        Kernel.endInvalidation(range, t0, st, true);
    }

    /** Splits the huge block of {@code vpage}, if any. */
    void splitAt(Process p, int vpage, Stats st) {
        if (vpage >= 0 && vpage < p.table.pages()) {
            split(p, blockOf(vpage), st);
        }
    }

    /**
     * Splits every huge block that {@code [from, to)} covers only in part: its ends cut a block
     * ({@code vma_adjust_trans_huge} when an area is split there, {@code zap_pmd_range} on a
     * partial block).
     */
    void splitPartial(Process p, int from, int to, Stats st) {
        int first = blockOf(from);
        int last = blockOf(to - 1);
        if (from != blockStart(first) || to < blockStart(first) + HPAGE_PAGES) {
            splitAt(p, from, st);
        }
        if (last != first && to != blockStart(last) + HPAGE_PAGES) {
            splitAt(p, to - 1, st);
        }
    }

    /**
     * After a zap of {@code [from, to)}, page-table lock held: every block it covers whole loses
     * its huge PMD ({@code zap_huge_pmd} clears it).
     */
    static void zappedLocked(PageTable t, int from, int to) {
        for (int b = blockOf(from + HPAGE_PAGES - 1); blockStart(b) + HPAGE_PAGES <= to; b++) {
            if (b < t.blocks() && t.pmdLocked(b) == PMD_HUGE) {
                t.setPmdLocked(b, PMD_NONE);
            }
        }
    }

    /**
     * {@code free_pgtables} after munmap of {@code [from, to)}, mmap lock held: a block that no
     * area overlaps any more and whose entries are all empty loses its page table, so that the
     * next fault there may map a huge page.
     */
    static void freeTables(Process p, int from, int to) {
        PageTable t = p.table;
        t.lock();
        try {
            for (int b = blockOf(from); b < t.blocks() && blockStart(b) < to; b++) {
                int start = blockStart(b);
                if (t.pmdLocked(b) == PMD_TABLE && !p.vmas.overlaps(start, start + HPAGE_PAGES) && empty(t, b)) {
                    t.setPmdLocked(b, PMD_NONE);
                }
            }
        } finally {
            t.unlock();
        }
    }

    private static boolean empty(PageTable t, int b) {
        int from = blockStart(b);
        for (int vp = from; vp < Math.min(from + HPAGE_PAGES, t.pages()); vp++) {
            if (t.frameLocked(vp) >= 0 || t.migrationEntryLocked(vp)) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ khugepaged

    /**
     * One scan of khugepaged in a random area of {@code p} (5.4's {@code khugepaged_scan_mm_slot}
     * → {@code khugepaged_scan_pmd} → {@code collapse_huge_page}). Under the mmap read lock it
     * picks a block of page entries that the area holds whole and scans it under the page-table
     * lock: at least one page present ({@code max_ptes_none} is 511), none under migration, each
     * present page mapped once, one of them writable, and one referenced: young in the primary,
     * marked referenced, or young in a secondary ({@code mmu_notifier_test_young}, asked per page
     * only when the primary's bits say no). Then {@code collapse_huge_page}: the read lock dropped,
     * a huge page allocated, the mmap lock taken for write and the block checked again; a blockable
     * CLEAR bracket over the block; under the lock {@code pmdp_collapse_flush} clears the PMD (the
     * entries, each with a stale window; a primary flush, no notifier call); the full end, whose
     * {@code invalidateRange} flushes the secondary TLBs; {@code __collapse_huge_page_isolate}
     * checks each page again under the lock (mapped once, and referenced, asking
     * {@code testYoung} again) and on failure puts the table back; the old pages are copied and
     * freed, empty entries zero-filled; the huge PMD is set. Strict: {@code invalidateRange} under
     * the lock after the clear, and the only-end.
     */
    @SuppressWarnings("deprecation")
    void khugepaged(Process p, SplittableRandom rng, Stats st) {
        st.count(Op.THP_COLLAPSE);
        int b = scan(p, rng);
        if (b < 0) {
            return;
        }
        int[] page = allocateHuge(); // khugepaged_alloc_page, with the read lock dropped
        if (page == null) {
            return; // SCAN_ALLOC_HUGE_PAGE_FAIL
        }
        boolean collapsed = false;
        p.mm.mmapWriteLock();
        try {
            collapsed = collapse(p, b, page, st);
        } finally {
            p.mm.mmapWriteUnlock();
            if (!collapsed) {
                for (int f : page) {
                    frames.put(f);
                }
            }
        }
        if (collapsed) {
            st.count(Op.THP_COLLAPSED);
        }
    }

    /** {@code khugepaged_scan_pmd} under the mmap read lock. @return the block to collapse, or -1 */
    private int scan(Process p, SplittableRandom rng) {
        p.mm.mmapReadLock();
        try {
            VmaList.Vma v = p.vmas.random(rng);
            if (v == null) {
                return -1;
            }
            int first = blockOf(v.start() + HPAGE_PAGES - 1);
            int last = blockOf(v.end()) - 1; // the last block that ends inside the area
            if (last < first) {
                return -1;
            }
            int b = first + rng.nextInt(last - first + 1);
            if (blockStart(b) + HPAGE_PAGES > p.table.pages()) {
                return -1;
            }
            PageTable t = p.table;
            t.lock();
            try {
                return t.pmdLocked(b) == PMD_TABLE && collapsibleLocked(p, b, null) ? b : -1;
            } finally {
                t.unlock();
            }
        } finally {
            p.mm.mmapReadUnlock();
        }
    }

    /**
     * The per-page test of {@code khugepaged_scan_pmd} and {@code __collapse_huge_page_isolate},
     * page-table lock held: over the block's current entries, or over {@code saved} entries
     * ({@code frame | flags << 32}, or -1 for none) once the PMD is cleared.
     */
    private boolean collapsibleLocked(Process p, int b, long[] saved) {
        PageTable t = p.table;
        int from = blockStart(b);
        int none = 0;
        boolean writable = false;
        boolean referenced = false;
        for (int i = 0; i < HPAGE_PAGES; i++) {
            int vp = from + i;
            int f;
            int fl;
            if (saved == null) {
                if (t.migrationEntryLocked(vp)) {
                    return false; // not present, not swap: SCAN_PTE_NON_PRESENT
                }
                f = t.frameLocked(vp);
                fl = f < 0 ? 0 : t.flagsLocked(vp);
            } else {
                f = saved[i] < 0 ? -1 : (int) saved[i];
                fl = saved[i] < 0 ? 0 : (int) (saved[i] >>> 32);
            }
            if (f < 0) {
                none++;
                continue;
            }
            if (frames.mapCount(f) != 1 || kernel.isKsmPage(f)) {
                return false; // SCAN_PAGE_COUNT: another mapping or a KSM page
            }
            writable |= (fl & PageTable.WRITE) != 0;
            if (!referenced) {
                referenced = (fl & (PageTable.YOUNG | PageTable.REFERENCED)) != 0 || PrimaryMmu.testYoung(p.mm, addr(vp));
            }
        }
        return none < HPAGE_PAGES && writable && referenced;
    }

    /** {@code collapse_huge_page} from the write lock on. @return whether the huge page was installed */
    private boolean collapse(Process p, int b, int[] page, Stats st) {
        PageTable t = p.table;
        int from = blockStart(b);
        VmaList.Vma v = p.vmas.find(from);
        if (v == null || !suitable(v, from, t.pages())) {
            return false; // hugepage_vma_revalidate
        }
        t.lock();
        try {
            if (t.pmdLocked(b) != PMD_TABLE) {
                return false; // the PMD changed while the lock was dropped
            }
        } finally {
            t.unlock();
        }
        boolean linux = kernel.order == KernelOrder.LINUX_5_4;
        MmuNotifierRange range = blockRange(p, b, MmuNotifierEvent.CLEAR);
        long t0 = Kernel.beginInvalidation(range);
        long[] saved = new long[HPAGE_PAGES];
        long[] windows = st.windows(HPAGE_PAGES);
        int n = 0;
        t.lock();
        try { // pmdp_collapse_flush: the table detached; walkers see no entry
            for (int i = 0; i < HPAGE_PAGES; i++) {
                int vp = from + i;
                if (t.migrationEntryLocked(vp)) {
                    saved[i] = -1;
                    t.clearMigrationLocked(vp); // cannot happen under the write lock; dropped as a zap would
                    continue;
                }
                int f = t.frameLocked(vp);
                if (f < 0) {
                    saved[i] = -1;
                    continue;
                }
                saved[i] = (f & 0xffff_ffffL) | (long) t.flagsLocked(vp) << 32;
                windows[n++] = Kernel.window(vp, t.markStaleLocked(vp));
                t.clearLocked(vp);
            }
            t.setPmdLocked(b, PMD_NONE);
            if (!linux) {
                PrimaryMmu.invalidateRange(p.mm, range.start(), range.end());
                Kernel.closeWindows(t, windows, 0, n);
            }
        } finally {
            t.unlock();
        }
        Kernel.endInvalidation(range, t0, st, !linux); // 5.4: the full end flushes the secondary TLBs
        boolean isolated;
        t.lock();
        try {
            if (linux) {
                Kernel.closeWindows(t, windows, 0, n);
            }
            isolated = collapsibleLocked(p, b, saved); // __collapse_huge_page_isolate
            if (!isolated) { // pmd_populate of the old table: every entry back as it was
                for (int i = 0; i < HPAGE_PAGES; i++) {
                    if (saved[i] >= 0) {
                        t.mapLocked(from + i, (int) saved[i], (int) (saved[i] >>> 32));
                    }
                }
                t.setPmdLocked(b, PMD_TABLE);
            }
        } finally {
            t.unlock();
        }
        if (!isolated) {
            return false;
        }
        for (long s : saved) { // __collapse_huge_page_copy: each old page copied, then freed
            if (s >= 0) {
                frames.put((int) s);
            }
        }
        int fl = PageTable.YOUNG | PageTable.DIRTIED | (v.writable() ? PageTable.WRITE : 0);
        t.lock();
        try { // set_pmd_at
            for (int i = 0; i < HPAGE_PAGES; i++) {
                t.mapLocked(from + i, page[i], fl);
            }
            t.setPmdLocked(b, PMD_HUGE);
        } finally {
            t.unlock();
        }
        return true;
    }

    // ------------------------------------------------------------------ helpers

    /** @return {@value PageTable#HPAGE_PAGES} new frames, or null (all given back) if there are not enough */
    private int[] allocateHuge() {
        int[] page = new int[HPAGE_PAGES];
        for (int i = 0; i < HPAGE_PAGES; i++) {
            page[i] = frames.allocate();
            if (page[i] < 0) {
                for (int j = 0; j < i; j++) {
                    frames.put(page[j]);
                }
                return null;
            }
        }
        return page;
    }

    private static MmuNotifierRange blockRange(Process p, int b, MmuNotifierEvent event) {
        int from = blockStart(b);
        return new MmuNotifierRange(p.mm, addr(from), addr(from + HPAGE_PAGES), event, true);
    }
}
