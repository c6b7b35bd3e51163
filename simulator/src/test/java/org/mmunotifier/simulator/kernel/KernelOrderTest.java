package org.mmunotifier.simulator.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.mmunotifier.mm.MmStruct;
import org.mmunotifier.mm.MmuNotifier;
import org.mmunotifier.mm.MmuNotifierOps;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.mm.MmuNotifiers;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;

/**
 * The notifier calls of each simulated operation, in order, as a recording driver sees them, in
 * Linux 5.4's order and in the strict one (docs/simulator.md, "Kernel orders"). Each recorded
 * call notes whether the page-table lock was held, whether the page was present, and whether
 * its old frame was still mapped: the three facts in which the orders differ.
 */
class KernelOrderTest {
    private final FrameAllocator frames = new FrameAllocator(4096);
    private final Stats st = new Stats();
    private final List<String> calls = new ArrayList<>();
    /** The ranges of the starts and the {@code invalidateRange} calls, as {@code [start, end)} in hex. */
    private final List<String> ranges = new ArrayList<>();
    private Process process;
    private Kernel kernel;
    private int watchedPage = -1;
    private int watchedFrame = -1;
    /**
     * Run inside every {@code invalidateRange} callback, after it is recorded, until it returns
     * true once.
     */
    private java.util.function.BooleanSupplier atInvalidateRange;
    /** How many more non-blockable starts the recorder refuses, as a driver whose lock is busy. */
    private int refuseNonblocking;
    /** What the recorder's {@code testYoung} answers: whether its secondary saw the page used. */
    private boolean secondaryYoung;

    /** Records every callback with its context. */
    private final MmuNotifierOps<MmuNotifier> recorder = new MmuNotifierOps<>() {
        @Override
        public boolean invalidateRangeStart(MmuNotifier mn, MmuNotifierRange range) {
            if (!range.blockable() && refuseNonblocking > 0) {
                refuseNonblocking--;
                record("start " + range.event() + " nonblock refused");
                return false;
            }
            record("start " + range.event() + (range.blockable() ? "" : " nonblock"));
            ranges.add("start [" + Long.toHexString(range.start()) + ", " + Long.toHexString(range.end()) + ")");
            return true;
        }

        @Override
        public void invalidateRangeEnd(MmuNotifier mn, MmuNotifierRange range) {
            record("end");
        }

        @Override
        public void invalidateRange(MmuNotifier mn, MmStruct mm, long start, long end) {
            record("invalidateRange");
            ranges.add("invalidateRange [" + Long.toHexString(start) + ", " + Long.toHexString(end) + ")");
            java.util.function.BooleanSupplier hook = atInvalidateRange;
            if (hook != null) {
                atInvalidateRange = null; // not for the calls the hook itself causes
                if (!hook.getAsBoolean()) {
                    atInvalidateRange = hook;
                }
            }
        }

        @Override
        @SuppressWarnings("deprecation")
        public void changePte(MmuNotifier mn, MmStruct mm, long address, long pte) {
            record("changePte");
        }

        @Override
        public boolean clearFlushYoung(MmuNotifier mn, MmStruct mm, long start, long end) {
            record("clearFlushYoung");
            return false;
        }

        @Override
        public boolean clearYoung(MmuNotifier mn, MmStruct mm, long start, long end) {
            record("clearYoung");
            return false;
        }

        @Override
        public boolean testYoung(MmuNotifier mn, MmStruct mm, long address) {
            record("testYoung");
            return secondaryYoung;
        }
    };

    private void record(String what) {
        PageTable t = process.table;
        StringBuilder b = new StringBuilder(what);
        b.append(t.lockedByCurrentThread() ? " [ptl]" : "");
        if (watchedPage >= 0) {
            long r = t.read(watchedPage);
            b.append(r < 0 ? " none" : PageTable.readFrame(r) == watchedFrame ? " old" : " new");
            b.append(frames.mapCount(watchedFrame) > 0 ? "" : " old-freed");
        }
        calls.add(b.toString());
    }

    private Kernel kernel(KernelOrder order) {
        return kernel(order, 64);
    }

    private Kernel kernel(KernelOrder order, int pages) {
        Kernel k = new Kernel(frames, new Checker(true), pages, 8, order);
        kernel = k;
        process = k.spawn(new SplittableRandom(1), st);
        MmuNotifiers.register(new MmuNotifier(recorder) {
        }, process.mm);
        return k;
    }

    /** Faults in {@code vpage} for write and watches it; returns its frame. */
    private int touch(Kernel k, int vpage, boolean write) {
        long e = k.fault(process, vpage, write, st);
        assertThat(e).isNotZero();
        process.table.lock();
        try {
            watchedPage = vpage;
            watchedFrame = process.table.frameLocked(vpage);
        } finally {
            process.table.unlock();
        }
        return watchedFrame;
    }

    private int heapPage() {
        for (VmaList.Vma v : process.vmas.all()) {
            if (v.writable()) {
                return v.start();
            }
        }
        throw new AssertionError("no writable area");
    }

    @AfterEach
    void exitProcess() {
        if (kernel != null) {
            kernel.exit(process, st); // release, then the teardown, on every path above
        }
    }

    @Test
    void munmap_54_flushesAfterTheLock_andFreesAfterTheFullEnd() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        touch(k, vp, true);
        calls.clear();
        unmapAll(k);
        assertThat(calls).containsExactly("start UNMAP old", "invalidateRange none", "invalidateRange none", "end none");
    }

    @Test
    void munmap_strict_flushesUnderTheLock_andEndsWithTheOnlyEnd() {
        Kernel k = kernel(KernelOrder.STRICT);
        int vp = heapPage();
        touch(k, vp, true);
        calls.clear();
        unmapAll(k);
        assertThat(calls).containsExactly("start UNMAP old", "invalidateRange [ptl] none", "end none");
    }

    // ------------------------------------------------------------------ transparent huge pages

    /** A kernel with one writable area that is an aligned huge block; faults its page {@code offset} in huge. */
    private int hugeHeap(KernelOrder order, int offset, boolean write) {
        int hp = alignedHeap(order);
        touch(kernel, hp + offset, write);
        return hp;
    }

    /** A kernel of two huge blocks and a writable area over one whole 2 MiB-aligned block, nothing mapped yet. */
    private int alignedHeap(KernelOrder order) {
        kernel(order, 2 * PageTable.HPAGE_PAGES);
        process.mm.mmapWriteLock();
        int hp;
        try {
            hp = process.vmas.mmapAligned(PageTable.HPAGE_PAGES, PageTable.HPAGE_PAGES,
                    VmaList.PROT_READ | VmaList.PROT_WRITE, new SplittableRandom(2)).start();
        } finally {
            process.mm.mmapWriteUnlock();
        }
        assertThat(hp % PageTable.HPAGE_PAGES).as("2 MiB-aligned").isZero();
        return hp;
    }

    private byte pmd(int vpage) {
        process.table.lock();
        try {
            return process.table.pmdLocked(PageTable.blockOf(vpage));
        } finally {
            process.table.unlock();
        }
    }

    private String blockRange(String what, int hp) {
        return what + " [" + Long.toHexString(Kernel.addr(hp)) + ", " + Long.toHexString(Kernel.addr(hp + PageTable.HPAGE_PAGES)) + ")";
    }

    @Test
    void thp_fault_mapsTheWholeBlockHuge_withNoNotifierCall() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, false);
        assertThat(calls).as("do_huge_pmd_anonymous_page: a new mapping").isEmpty();
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_HUGE);
        for (int vp = hp; vp < hp + PageTable.HPAGE_PAGES; vp++) {
            assertThat(process.table.read(vp)).as("page %d", vp).isGreaterThanOrEqualTo(0);
        }
        assertThat(PageTable.readWritable(process.table.read(hp))).as("maybe_pmd_mkwrite on a read fault too").isTrue();
    }

    @Test
    void thp_split_isAClearBracket_withTheOnlyEnd_andNoFlush_everyTranslationStays() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        calls.clear();
        kernel.thp.split(process, PageTable.blockOf(hp), st);
        assertThat(calls).containsExactly("start CLEAR old", "end old");
        assertThat(ranges).containsExactly(blockRange("start", hp));
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_TABLE);
        assertThat(PageTable.readFrame(process.table.read(hp + 5))).isEqualTo(watchedFrame);
        calls.clear();
        kernel.thp.split(process, PageTable.blockOf(hp), st);
        assertThat(calls).as("split_huge_pmd of a block that is no longer huge does nothing").isEmpty();
    }

    @Test
    void thp_partialZap_splitsTheBlockInsideTheZapsBracket_thenZapsThePart() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        calls.clear();
        kernel.zap(process, hp, hp + 10, org.mmunotifier.mm.MmuNotifierEvent.CLEAR, st); // MADV_DONTNEED of a part
        assertThat(calls).as("zap_pmd_range: __split_huge_pmd nested in the zap's bracket").containsExactly(
                "start CLEAR old", "start CLEAR old", "end old", "invalidateRange none", "invalidateRange none", "end none");
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_TABLE);
        assertThat(process.table.read(hp + 10)).as("the rest of the block stays mapped").isGreaterThanOrEqualTo(0);
    }

    /**
     * MADV_DONTNEED of part of a block with no page table yet finds nothing to split; a huge fault
     * (mmap read lock, as the zap holds) maps the block before the zap takes the page-table lock.
     * 5.4's zap_pmd_range then skips the block: the huge page stays whole, no entry of it cleared
     * under a huge PMD.
     */
    @Test
    void thp_partialZap_racingAHugeFaultAfterItsSplitCheck_skipsTheNowHugeBlock() throws Exception {
        int hp = alignedHeap(KernelOrder.LINUX_5_4);
        Kernel k = kernel;
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_NONE);
        Thread zap = new Thread(() -> k.madviseDontneedRange(process, hp + 10, hp + 20, new Stats()), "dontneed");
        process.mm.mmapReadLock(); // the faulting thread's
        try {
            process.table.lock();
            try {
                zap.start();
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (!process.table.hasQueuedThread(zap)) { // past its split check, at the lock
                    assertThat(System.nanoTime()).as("the zap reaches the page-table lock").isLessThan(deadline);
                    Thread.onSpinWait();
                }
                assertThat(k.thp.hugeFaultLocked(process, process.vmas.find(hp), hp + 3, true, st)).isNotZero();
            } finally {
                process.table.unlock();
            }
        } finally {
            process.mm.mmapReadUnlock();
        }
        zap.join(10_000);
        assertThat(zap.isAlive()).isFalse();
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_HUGE);
        for (int vp = hp; vp < hp + PageTable.HPAGE_PAGES; vp++) {
            assertThat(process.table.read(vp)).as("page %d of the huge block", vp - hp).isGreaterThanOrEqualTo(0);
        }
        kernel.thp.split(process, PageTable.blockOf(hp), st); // and it is a well-formed huge block
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_TABLE);
    }

    @Test
    void thp_wholeZap_emptiesThePmd_andTheNextFaultMapsAHugePageAgain() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        calls.clear();
        kernel.zap(process, hp, hp + PageTable.HPAGE_PAGES, org.mmunotifier.mm.MmuNotifierEvent.CLEAR, st);
        assertThat(calls).as("zap_huge_pmd inside the zap's own bracket: no split")
                .containsExactly("start CLEAR old", "invalidateRange none", "invalidateRange none", "end none");
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_NONE);
        assertThat(frames.mapCount(watchedFrame)).isZero();
        kernel.fault(process, hp + 7, false, st);
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_HUGE);
    }

    @Test
    void thp_cow_copiesTheWholeHugePage_flushingUnderTheLock_thenTheOnlyEnd() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        kernel.fork(process, st); // copy_huge_pmd: both write-protected, the huge page shared
        calls.clear();
        ranges.clear();
        kernel.fault(process, hp + 5, true, st);
        assertThat(calls).as("do_huge_pmd_wp_page: pmdp_huge_clear_flush_notify, set_pmd_at, only-end")
                .containsExactly("start CLEAR old", "invalidateRange [ptl] none", "end new");
        assertThat(ranges).containsExactly(blockRange("start", hp), blockRange("invalidateRange", hp));
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_HUGE);
        assertThat(frames.mapCount(watchedFrame)).as("the child keeps the old page").isEqualTo(1);
    }

    @Test
    void thp_writeToAProtectedHugePageMappedOnce_reusesItWhole_withNoNotifierCall() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        kernel.clearRefsSoftDirty(process, st); // write-protects every entry
        calls.clear();
        kernel.fault(process, hp + 5, true, st);
        assertThat(calls).isEmpty();
        assertThat(PageTable.readWritable(process.table.read(hp + 300))).as("the whole PMD made writable").isTrue();
        assertThat(PageTable.readFrame(process.table.read(hp + 5))).isEqualTo(watchedFrame);
    }

    @Test
    void thp_pageMkclean_cleansTheWholeHugePage_inOneBracketOverTheBlock() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        SplittableRandom rng = new SplittableRandom(29);
        calls.clear();
        ranges.clear();
        while (calls.isEmpty()) { // page_mkclean picks a random page; the text area has none mapped
            kernel.pageMkclean(process, rng, st);
        }
        assertThat(calls).containsExactly("start PROTECTION_PAGE old", "invalidateRange old", "end old");
        assertThat(ranges).containsExactly(blockRange("start", hp), blockRange("invalidateRange", hp));
        assertThat(PageTable.readWritable(process.table.read(hp + 400))).isFalse();
    }

    /** Splits the huge heap block and ages every page of it, as khugepaged would find it. */
    private void splitAndAge(int hp) {
        kernel.thp.split(process, PageTable.blockOf(hp), st);
        process.table.lock();
        try {
            for (int vp = hp; vp < hp + PageTable.HPAGE_PAGES; vp++) {
                process.table.setFlagsLocked(vp, process.table.flagsLocked(vp) & ~(PageTable.YOUNG | PageTable.REFERENCED));
            }
        } finally {
            process.table.unlock();
        }
    }

    /** Runs khugepaged scans until one picks the heap (the text area holds no whole block). */
    private void khugepagedOnTheHeap(int hp) {
        SplittableRandom rng = new SplittableRandom(31);
        for (int i = 0; i < 64 && calls.isEmpty(); i++) {
            kernel.khugepaged(process, rng, st);
        }
    }

    @Test
    void thp_collapse_54_testYoungPerPage_aClearBracketFlushedInTheFullEnd_thenTheHugePage() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        splitAndAge(hp);
        secondaryYoung = true;
        calls.clear();
        ranges.clear();
        khugepagedOnTheHeap(hp);
        assertThat(calls).as("scan, collapse bracket, isolate").containsExactly(
                "testYoung [ptl] old", "start CLEAR old", "invalidateRange none", "end none", "testYoung [ptl] none");
        assertThat(ranges).containsExactly(blockRange("start", hp), blockRange("invalidateRange", hp));
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_HUGE);
        assertThat(PageTable.readFrame(process.table.read(hp + 5))).as("a new huge page").isNotEqualTo(watchedFrame);
        assertThat(frames.mapCount(watchedFrame)).as("the old pages freed after the flush").isZero();
    }

    @Test
    void thp_collapse_strict_flushesUnderTheLock_andEndsWithTheOnlyEnd() {
        int hp = hugeHeap(KernelOrder.STRICT, 5, true);
        splitAndAge(hp);
        secondaryYoung = true;
        calls.clear();
        khugepagedOnTheHeap(hp);
        assertThat(calls).containsExactly(
                "testYoung [ptl] old", "start CLEAR old", "invalidateRange [ptl] none", "end none", "testYoung [ptl] none");
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_HUGE);
    }

    @Test
    void thp_collapse_needsAReferencedPage_askingEverySecondaryPerPresentPage() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        splitAndAge(hp);
        calls.clear();
        khugepagedOnTheHeap(hp);
        assertThat(calls).as("SCAN_LACK_REFERENCED_PAGE: one testYoung per page, no bracket")
                .hasSize(PageTable.HPAGE_PAGES).allMatch(c -> c.startsWith("testYoung [ptl]"));
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_TABLE);
    }

    @Test
    void thp_collapse_refusesAPageMappedTwice() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        splitAndAge(hp);
        kernel.fork(process, st); // every page now mapped twice
        secondaryYoung = true;
        calls.clear();
        SplittableRandom rng = new SplittableRandom(31);
        for (int i = 0; i < 64; i++) {
            kernel.khugepaged(process, rng, st);
        }
        assertThat(calls).as("SCAN_PAGE_COUNT before any young test").isEmpty();
        assertThat(pmd(hp)).isEqualTo(PageTable.PMD_TABLE);
    }

    @Test
    void thp_mremap_movesAHugeBlockWhole_toAnAlignedPlace_andSplitsItForAnyOther() {
        int hp = hugeHeap(KernelOrder.LINUX_5_4, 5, true);
        int dest = hp == 0 ? PageTable.HPAGE_PAGES : 0;
        process.mm.mmapWriteLock();
        try {
            process.vmas.unmap(dest, dest + PageTable.HPAGE_PAGES); // the text area, never faulted in
            process.vmas.insert(new VmaList.Vma(dest, dest + PageTable.HPAGE_PAGES, VmaList.PROT_READ | VmaList.PROT_WRITE));
            calls.clear();
            kernel.movePageTables(process, hp, dest, PageTable.HPAGE_PAGES, st);
            assertThat(calls).as("move_huge_pmd: no split").containsExactly("start UNMAP old", "invalidateRange none", "end none");
            assertThat(pmd(dest)).isEqualTo(PageTable.PMD_HUGE);
            assertThat(pmd(hp)).isEqualTo(PageTable.PMD_NONE);
            calls.clear();
            kernel.movePageTables(process, dest, hp + 1, PageTable.HPAGE_PAGES - 1, st);
            assertThat(calls).as("a misaligned move splits first, inside the move's bracket")
                    .startsWith("start UNMAP none", "start CLEAR none", "end none");
            assertThat(pmd(dest)).isEqualTo(PageTable.PMD_TABLE);
        } finally {
            process.mm.mmapWriteUnlock();
        }
    }

    /** munmap until the watched page's area is gone (munmap picks a random part of an area). */
    private void unmapAll(Kernel k) {
        SplittableRandom rng = new SplittableRandom(7);
        while (process.vmas.find(watchedPage) != null) {
            List<String> before = new ArrayList<>(calls);
            k.munmap(process, rng, st);
            if (process.vmas.find(watchedPage) != null) {
                calls.clear(); // a munmap of another part: not the one under test
                calls.addAll(before);
            }
        }
        assertThat(frames.mapCount(watchedFrame)).as("freed at the end").isZero();
    }

    @Test
    void cowBreak_54_clearsAndFlushes_thenChangePte_thenInstalls_thenTheOnlyEnd() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        touch(k, vp, true);
        k.fork(process, st); // shares the page copy-on-write
        calls.clear();
        k.fault(process, vp, true, st);
        assertThat(calls).containsExactly("start CLEAR old", "invalidateRange [ptl] none", "changePte [ptl] none",
                "end new");
    }

    @Test
    void cowBreak_strict_replacesFirst() {
        Kernel k = kernel(KernelOrder.STRICT);
        int vp = heapPage();
        touch(k, vp, true);
        k.fork(process, st);
        calls.clear();
        k.fault(process, vp, true, st);
        assertThat(calls).containsExactly("start CLEAR old", "invalidateRange [ptl] new", "changePte [ptl] new",
                "end new");
    }

    @Test
    void fork_54_protectsOnlyAreasWithPages_andFlushesInTheFullEnd() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        touch(k, heapPage(), true);
        calls.clear();
        k.fork(process, st);
        assertThat(calls).as("one bracket, for the one area with a page").containsExactly(
                "start PROTECTION_PAGE old", "invalidateRange old", "end old");
    }

    @Test
    void fork_strict_protectsEveryWritableArea_underTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        touch(k, heapPage(), true);
        calls.clear();
        k.fork(process, st);
        assertThat(calls).containsExactly("start PROTECTION_PAGE old", "invalidateRange [ptl] old", "end old");
    }

    @Test
    void migrate_54_isAClearBracket_withAMigrationEntry_flushedInTheFullEnd() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        int old = touch(k, vp, true);
        calls.clear();
        SplittableRandom rng = new SplittableRandom(3);
        while (true) { // migrate picks a random page: until it is the watched one
            k.migrate(process, rng, st);
            process.table.lock();
            boolean moved;
            try {
                moved = process.table.frameLocked(vp) != old;
            } finally {
                process.table.unlock();
            }
            if (moved) {
                break;
            }
            calls.clear();
        }
        assertThat(calls).containsExactly("start CLEAR old", "invalidateRange none", "end none");
        assertThat(frames.mapCount(old)).as("the old frame is freed after the new entry is in").isZero();
    }

    @Test
    void young_54_runsUnderThePageTableLock_perPage() {
        assertThat(youngCalls(KernelOrder.LINUX_5_4)).isNotEmpty().allMatch(c -> c.endsWith("[ptl]"));
    }

    @Test
    void young_strict_runsOutsideThePageTableLock() {
        assertThat(youngCalls(KernelOrder.STRICT)).isNotEmpty().noneMatch(c -> c.endsWith("[ptl]"));
    }

    /** The young callbacks of 200 reclaim steps over a process with one page. */
    private List<String> youngCalls(KernelOrder order) {
        Kernel k = kernel(order);
        touch(k, heapPage(), false);
        watchedPage = -1;
        SplittableRandom rng = new SplittableRandom(5);
        for (int i = 0; i < 200; i++) {
            k.reclaimStep(process, rng, st);
        }
        return calls.stream().filter(c -> c.contains("Young")).toList();
    }

    @Test
    void mprotect_54_writeProtectsUnderTheLock_andFlushesInTheFullEnd() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        touch(k, heapPage(), true);
        assertThat(protectWatched(k)).containsExactly("start PROTECTION_VMA old", "invalidateRange old", "end old");
    }

    @Test
    void mprotect_strict_flushesUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        touch(k, heapPage(), true);
        assertThat(protectWatched(k)).containsExactly("start PROTECTION_VMA old", "invalidateRange [ptl] old", "end old");
    }

    /** mprotect until the watched page loses write permission; the calls of that mprotect. */
    private List<String> protectWatched(Kernel k) {
        SplittableRandom rng = new SplittableRandom(9);
        while (true) {
            calls.clear();
            k.mprotect(process, rng, st);
            process.table.lock();
            try {
                if ((process.table.flagsLocked(watchedPage) & PageTable.WRITE) == 0) {
                    assertThat(process.table.staleLocked(watchedPage)).as("the window closed when it returned").isFalse();
                    return new ArrayList<>(calls);
                }
            } finally {
                process.table.unlock();
            }
        }
    }

    @Test
    void madvDontneed_54_isAClearZap_flushedAfterThePageTableLock_andTheAreaStays() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        touch(k, vp, true);
        assertThat(dontneedWatched(k)).containsExactly("start CLEAR old", "invalidateRange none", "invalidateRange none",
                "end none");
        assertThat(process.vmas.find(vp)).as("MADV_DONTNEED keeps the area").isNotNull();
        assertThat(frames.mapCount(watchedFrame)).as("freed after the end").isZero();
    }

    @Test
    void madvDontneed_strict_flushesUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        int vp = heapPage();
        touch(k, vp, true);
        assertThat(dontneedWatched(k)).containsExactly("start CLEAR old", "invalidateRange [ptl] none", "end none");
        assertThat(process.vmas.find(vp)).isNotNull();
    }

    /**
     * A page fault on another thread refills the page between the zap's unlock and its flush:
     * the zap holds the mmap lock only for read, so the fault runs; the old translation stays in
     * its window until the flush, the new one is valid at once, and the zap frees the old frame
     * only.
     */
    @Test
    void madvDontneed_54_aFaultRefillsThePageBeforeTheFlush_theOldWindowStaysOpen_andOnlyTheOldFrameIsFreed() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        int old = touch(k, vp, true);
        int oldGen = frames.generation(old);
        int[] refilled = {-1};
        List<PageTable.Verdict> verdicts = new ArrayList<>();
        atInvalidateRange = () -> {
            if (process.table.read(vp) >= 0) {
                return false; // a zap of another part of the area
            }
            Thread fault = new Thread(() -> k.fault(process, vp, true, new Stats()), "racing-fault");
            fault.start();
            try {
                fault.join(10_000);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            assertThat(fault.isAlive()).as("the fault ran beside the zap (mmap lock held for read)").isFalse();
            long r = process.table.read(vp);
            assertThat(r).as("refilled").isNotNegative();
            refilled[0] = PageTable.readFrame(r);
            verdicts.add(process.table.validate(vp, old, oldGen, true));
            verdicts.add(process.table.validate(vp, refilled[0], frames.generation(refilled[0]), true));
            return true;
        };
        assertThat(dontneedWatched(k)).containsExactly("start CLEAR old", "invalidateRange none", "invalidateRange new",
                "end new");
        assertThat(verdicts).as("old translation inside its window, the new one valid").containsExactly(
                PageTable.Verdict.WINDOW, PageTable.Verdict.OK);
        assertThat(refilled[0]).isNotEqualTo(old);
        assertThat(frames.mapCount(old)).as("the old frame freed by the zap").isZero();
        assertThat(frames.mapCount(refilled[0])).as("the refilled frame still mapped once").isEqualTo(1);
        process.table.lock();
        try {
            assertThat(process.table.frameLocked(vp)).isEqualTo(refilled[0]);
            assertThat(process.table.staleLocked(vp)).as("the zap's window closed").isFalse();
        } finally {
            process.table.unlock();
        }
        assertThat(process.table.validate(vp, old, oldGen, false)).isEqualTo(PageTable.Verdict.OTHER_FRAME);
    }

    /**
     * MADV_DONTNEED on another thread drops the migration entry between the migration's end and
     * its {@code remove_migration_ptes}, as {@code zap_pte_range} does: the migration then
     * installs nothing, and both the old frame and the copy are freed.
     */
    @Test
    void migrate_54_aZapDropsTheMigrationEntry_theMigrationInstallsNothing() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        int old = touch(k, vp, true);
        int free = frames.freeFrames();
        boolean[] dropped = {false};
        atInvalidateRange = () -> {
            boolean migrating;
            process.table.lock();
            try {
                migrating = process.table.migrationFrameLocked(vp) == old;
            } finally {
                process.table.unlock();
            }
            if (!migrating) {
                return false;
            }
            Thread zap = new Thread(() -> {
                SplittableRandom rng = new SplittableRandom(17);
                Stats own = new Stats();
                while (true) {
                    k.madviseDontneed(process, rng, own);
                    process.table.lock();
                    try {
                        if (!process.table.migrationEntryLocked(vp)) {
                            return;
                        }
                    } finally {
                        process.table.unlock();
                    }
                }
            }, "racing-dontneed");
            zap.start();
            try {
                zap.join(10_000);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            dropped[0] = !zap.isAlive();
            return true;
        };
        SplittableRandom rng = new SplittableRandom(3);
        while (atInvalidateRange != null) { // migrate picks a random page: until it is the watched one
            k.migrate(process, rng, st);
        }
        assertThat(dropped[0]).as("the zap ran beside the migration and dropped its entry").isTrue();
        process.table.lock();
        try {
            assertThat(process.table.frameLocked(vp)).as("nothing installed").isEqualTo(-1);
            assertThat(process.table.migrationEntryLocked(vp)).isFalse();
            assertThat(process.table.staleLocked(vp)).isFalse();
        } finally {
            process.table.unlock();
        }
        assertThat(frames.mapCount(old)).as("the old frame freed").isZero();
        assertThat(frames.freeFrames()).as("the copy freed too").isEqualTo(free + 1);
    }

    @Test
    void mremap_54_movesUnderAnUnmapBracket_flushedInTheFullEnd_thenUnmapsTheEmptyOldRange() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        int f = touch(k, vp, true);
        int gen = frames.generation(f);
        List<PageTable.Verdict> inFlush = new ArrayList<>();
        atInvalidateRange = () -> {
            if (process.table.read(vp) >= 0) {
                return false; // a move of another part
            }
            inFlush.add(process.table.validate(vp, f, gen, true));
            return true;
        };
        int moved = mremapWatched(k);
        assertThat(calls).containsExactly("start UNMAP old", "invalidateRange none", "end none",
                "start UNMAP none", "invalidateRange none", "end none");
        assertThat(inFlush).as("the old address's translation is in its window until the flush")
                .containsExactly(PageTable.Verdict.WINDOW);
        assertThat(process.table.validate(vp, f, gen, false)).isEqualTo(PageTable.Verdict.NOT_PRESENT);
        assertThat(process.table.validate(moved, f, gen, true)).as("the same frame, writable, at the new address")
                .isEqualTo(PageTable.Verdict.OK);
        assertThat(frames.mapCount(f)).as("the frame moved, not freed").isEqualTo(1);
        assertThat(process.vmas.find(vp)).as("the old range is unmapped").isNull();
        assertThat(process.vmas.find(moved)).isNotNull();
    }

    @Test
    void mremap_strict_flushesUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        int vp = heapPage();
        int f = touch(k, vp, true);
        int moved = mremapWatched(k);
        assertThat(calls).containsExactly("start UNMAP old", "invalidateRange [ptl] none", "end none",
                "start UNMAP none", "invalidateRange [ptl] none", "end none");
        assertThat(process.table.validate(moved, f, frames.generation(f), true)).isEqualTo(PageTable.Verdict.OK);
    }

    /**
     * mremap until the watched page's frame has moved to another address; the calls of that
     * mremap.
     *
     * @return the page the frame moved to
     */
    private int mremapWatched(Kernel k) {
        SplittableRandom rng = new SplittableRandom(19);
        while (true) {
            calls.clear();
            k.mremap(process, rng, st);
            process.table.lock();
            try {
                if (process.table.frameLocked(watchedPage) < 0) {
                    for (int vp = 0; vp < process.table.pages(); vp++) {
                        if (process.table.frameLocked(vp) == watchedFrame) {
                            assertThat(process.table.staleLocked(watchedPage)).as("the window closed").isFalse();
                            return vp;
                        }
                    }
                    throw new AssertionError("frame " + watchedFrame + " lost");
                }
            } finally {
                process.table.unlock();
            }
        }
    }

    @Test
    void pageMkclean_54_writeProtectsAndCleans_withNoFlushUnderTheLock_theFullEndFlushes_andTheNextWriteNeedsNone() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        int f = touch(k, vp, true);
        int gen = frames.generation(f);
        List<PageTable.Verdict> inFlush = new ArrayList<>();
        atInvalidateRange = () -> inFlush.add(process.table.validate(vp, f, gen, true));
        assertThat(mkcleanWatched(k)).containsExactly("start PROTECTION_PAGE old", "invalidateRange old", "end old");
        assertThat(inFlush).as("a write through the old translation, before the flush").containsExactly(
                PageTable.Verdict.WINDOW);
        assertThat(process.table.validate(vp, f, gen, true)).as("after it returned")
                .isEqualTo(PageTable.Verdict.WRITE_NOT_ALLOWED);
        assertWriteRedirtiesWithoutANotifierCall(k, PageTable.DIRTY);
    }

    @Test
    void pageMkclean_strict_flushesUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        touch(k, heapPage(), true);
        assertThat(mkcleanWatched(k)).containsExactly("start PROTECTION_PAGE old", "invalidateRange [ptl] old",
                "end old");
    }

    /** page_mkclean until the watched page is clean; the calls of that one. */
    private List<String> mkcleanWatched(Kernel k) {
        SplittableRandom rng = new SplittableRandom(23);
        while (true) {
            calls.clear();
            k.pageMkclean(process, rng, st);
            process.table.lock();
            try {
                if ((process.table.flagsLocked(watchedPage) & (PageTable.WRITE | PageTable.DIRTY)) == 0) {
                    assertThat(process.table.staleLocked(watchedPage)).as("the window closed").isFalse();
                    return new ArrayList<>(calls);
                }
            } finally {
                process.table.unlock();
            }
        }
    }

    /** A write fault on the watched page makes it writable and sets {@code bit} again, with no notifier call. */
    private void assertWriteRedirtiesWithoutANotifierCall(Kernel k, int bit) {
        calls.clear();
        assertThat(k.fault(process, watchedPage, true, st)).isNotZero();
        assertThat(calls).as("wp_page_reuse: the page is mapped once").isEmpty();
        process.table.lock();
        try {
            assertThat(process.table.frameLocked(watchedPage)).isEqualTo(watchedFrame);
            assertThat(process.table.flagsLocked(watchedPage) & (PageTable.WRITE | bit)).isEqualTo(PageTable.WRITE | bit);
        } finally {
            process.table.unlock();
        }
    }

    @Test
    void softDirty_54_protectsTheWholeMm_theFullEndFlushes_thenTheFullmmGathersEmptyRange() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        int f = touch(k, vp, true);
        int gen = frames.generation(f);
        List<PageTable.Verdict> inFlush = new ArrayList<>();
        atInvalidateRange = () -> inFlush.add(process.table.validate(vp, f, gen, true));
        calls.clear();
        ranges.clear();
        k.clearRefsSoftDirty(process, st);
        assertThat(calls).containsExactly("start SOFT_DIRTY old", "invalidateRange old", "end old", "invalidateRange old");
        assertThat(ranges).as("the whole address space, then tlb_finish_mmu's empty range").containsExactly(
                "start [0, ffffffffffffffff)", "invalidateRange [0, ffffffffffffffff)",
                "invalidateRange [ffffffffffffffff, ffffffffffffffff)");
        assertThat(inFlush).containsExactly(PageTable.Verdict.WINDOW);
        process.table.lock();
        try {
            assertThat(process.table.flagsLocked(vp) & (PageTable.WRITE | PageTable.SOFT_DIRTY)).isZero();
            assertThat(process.table.flagsLocked(vp) & PageTable.DIRTY).as("still dirty for writeback").isNotZero();
            assertThat(process.table.staleLocked(vp)).isFalse();
        } finally {
            process.table.unlock();
        }
        assertThat(process.table.validate(vp, f, gen, true)).isEqualTo(PageTable.Verdict.WRITE_NOT_ALLOWED);
        assertWriteRedirtiesWithoutANotifierCall(k, PageTable.SOFT_DIRTY);
    }

    @Test
    void softDirty_strict_flushesTheWholeRangeUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        touch(k, heapPage(), true);
        calls.clear();
        k.clearRefsSoftDirty(process, st);
        assertThat(calls).containsExactly("start SOFT_DIRTY old", "invalidateRange [ptl] old", "end old");
    }

    @Test
    void oomReap_54_nonblockingUnmapPerArea_flushedAfterTheLock_thenTheFullEnd_andFaultsFailAfterwards() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int vp = heapPage();
        touch(k, vp, true);
        int areas = process.vmas.size();
        calls.clear();
        assertThat(process.tryPin()).isTrue(); // a thread of the victim, still faulting
        try {
            k.oomKill(process, st);
            assertThat(k.fault(process, vp, true, st)).as("MMF_UNSTABLE: SIGBUS").isZero();
        } finally {
            process.unpin(k, st);
        }
        int i = calls.indexOf("invalidateRange none") - 1; // the area of the watched page
        assertThat(i).as(calls.toString()).isNotNegative();
        assertThat(calls.subList(i, i + 4)).containsExactly("start UNMAP nonblock old", "invalidateRange none",
                "invalidateRange none", "end none");
        assertThat(calls).filteredOn(c -> c.startsWith("start")).as("one non-blockable UNMAP range per area")
                .hasSize(areas).allMatch(c -> c.startsWith("start UNMAP nonblock"));
        assertThat(frames.mapCount(watchedFrame)).isZero();
    }

    @Test
    void oomReap_strict_flushesUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        touch(k, heapPage(), true);
        calls.clear();
        k.oomKill(process, st);
        int i = calls.indexOf("invalidateRange [ptl] none") - 1;
        assertThat(i).as(calls.toString()).isNotNegative();
        assertThat(calls.subList(i, i + 3)).containsExactly("start UNMAP nonblock old", "invalidateRange [ptl] none",
                "end none");
    }

    /**
     * A driver refuses the reaper's first non-blocking start (its lock is busy): the reaper skips
     * that area, reaps the others, and reaps the skipped one on its next try. The other notifier,
     * whose start succeeded, gets its end inside the failed start (the 5.12 pairing fix that the
     * library implements; 5.4 left it unpaired).
     */
    @Test
    void oomReap_54_aRefusedStart_skipsTheArea_andTheNextTryReapsIt_theOtherNotifierIsEnded() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        MmuNotifiers.register(new MmuNotifier(new MmuNotifierOps<MmuNotifier>() {
            @Override
            public boolean invalidateRangeStart(MmuNotifier mn, MmuNotifierRange range) {
                calls.add("other start");
                return true;
            }

            @Override
            public void invalidateRangeEnd(MmuNotifier mn, MmuNotifierRange range) {
                calls.add("other end");
            }
        }) {
        }, process.mm);
        int vp = heapPage();
        touch(k, vp, true);
        int areas = process.vmas.size();
        calls.clear();
        refuseNonblocking = 1;
        k.oomKill(process, st);
        assertThat(calls.subList(0, 3)).as("the first area: refused, and the other notifier ended at once")
                .containsExactly("other start", "start UNMAP nonblock refused old", "other end");
        assertThat(calls).filteredOn(c -> c.contains("start UNMAP nonblock")).as("two tries over every area")
                .hasSize(2 * areas);
        assertThat(calls).filteredOn(c -> c.equals("other start")).hasSize(2 * areas);
        assertThat(calls).filteredOn(c -> c.equals("other end")).as("every start of it ended").hasSize(2 * areas);
        assertThat(calls).filteredOn(c -> c.startsWith("end")).as("no end for the refused start").hasSize(2 * areas - 1);
        assertThat(calls).contains("invalidateRange none");
        assertThat(frames.mapCount(watchedFrame)).isZero();
    }

    @Test
    void oomReap_54_givesUpAfterTenTries() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        touch(k, heapPage(), true);
        int areas = process.vmas.size();
        calls.clear();
        refuseNonblocking = Integer.MAX_VALUE;
        assertThat(process.tryPin()).isTrue();
        try {
            k.oomKill(process, st);
            assertThat(process.table.read(watchedPage)).as("never reaped").isNotNegative();
        } finally {
            process.unpin(k, st); // the exit's teardown frees it
        }
        assertThat(calls).filteredOn(c -> c.startsWith("start")).hasSize(Kernel.MAX_OOM_REAP_RETRIES * areas)
                .allMatch(c -> c.startsWith("start UNMAP nonblock refused"));
        assertThat(frames.mapCount(watchedFrame)).isZero();
    }

    /** The worker's fast unpin drops a pin only when another is held: the last runs the exit path. */
    @Test
    void unpinUnlessLast_dropsAPinOnlyWhileAnotherIsHeld() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        assertThat(process.tryPin()).isTrue(); // the task's pin and this one
        assertThat(process.unpinUnlessLast()).as("another pin is held").isTrue();
        assertThat(process.unpinUnlessLast()).as("the task's pin is the last").isFalse();
        assertThat(process.dead()).as("a refused unpin dropped nothing").isFalse();
        assertThat(process.mm.users()).isEqualTo(1);
        k.exit(process, st); // the task's pin: the exit path runs
        kernel = null;
        assertThat(process.dead()).isTrue();
        assertThat(process.mm.users()).isZero();
    }

    @Test
    void ksm_54_writeProtectsWithSetPteAtNotify_thenReplaces_eachInAClearBracketWithTheFullEnd() {
        Kernel k = kernel(KernelOrder.LINUX_5_4);
        int first = heapPage();
        int kpage = touch(k, first, true);
        calls.clear();
        k.ksmMergePage(process, first, st); // no stable page yet: this one becomes it
        assertThat(calls).containsExactly("start CLEAR old", "changePte [ptl] none", "invalidateRange old", "end old");
        int vp = first + 1;
        int old = touch(k, vp, true);
        calls.clear();
        k.ksmMergePage(process, vp, st);
        assertThat(calls).as("write_protect_page, then replace_page").containsExactly(
                "start CLEAR old", "changePte [ptl] none", "invalidateRange old", "end old",
                "start CLEAR old", "changePte [ptl] none", "invalidateRange new", "end new");
        process.table.lock();
        try {
            assertThat(process.table.frameLocked(vp)).as("the stable page, shared").isEqualTo(kpage);
            assertThat(process.table.flagsLocked(vp) & PageTable.WRITE).isZero();
            assertThat(process.table.staleLocked(vp)).isFalse();
        } finally {
            process.table.unlock();
        }
        assertThat(frames.mapCount(kpage)).isEqualTo(2);
        assertThat(frames.mapCount(old)).as("the merged page freed after the end").isZero();
        watchedPage = -1;
        k.fault(process, first, true, st); // copy-on-write: the stable page is mapped once now
        assertThat(frames.mapCount(kpage)).isEqualTo(1);
        calls.clear();
        k.fault(process, vp, true, st);
        assertThat(calls).as("a write to the stable page copies it even when it is mapped once")
                .containsExactly("start CLEAR", "invalidateRange [ptl]", "changePte [ptl]", "end");
        assertThat(frames.mapCount(kpage)).as("freed by that copy").isZero();
    }

    @Test
    void ksm_strict_changesFirst_thenFlushesUnderTheLock() {
        Kernel k = kernel(KernelOrder.STRICT);
        int first = heapPage();
        touch(k, first, true);
        k.ksmMergePage(process, first, st);
        touch(k, first + 1, true);
        calls.clear();
        k.ksmMergePage(process, first + 1, st);
        assertThat(calls).containsExactly(
                "start CLEAR old", "invalidateRange [ptl] old", "changePte [ptl] old", "end old",
                "start CLEAR old", "invalidateRange [ptl] new", "changePte [ptl] new", "end new");
    }

    /** MADV_DONTNEED until the watched page is no longer mapped by its frame; that call's calls. */
    private List<String> dontneedWatched(Kernel k) {
        SplittableRandom rng = new SplittableRandom(13);
        while (true) {
            calls.clear();
            k.madviseDontneed(process, rng, st);
            if (!calls.isEmpty() && calls.get(0).endsWith(" old") && frames.mapCount(watchedFrame) == 0) {
                return new ArrayList<>(calls);
            }
        }
    }
}
