package org.mmunotifier.simulator.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PageTableTest {
    private final FrameAllocator frames = new FrameAllocator(8);
    private final PageTable table = new PageTable(frames, 16);

    @Test
    void entries_needThePageTableLock() {
        assertThatThrownBy(() -> table.frameLocked(0)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("page-table lock");
        assertThatThrownBy(() -> table.validateLocked(0, 0, 0, false)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void map_clear_roundTrip() {
        int f = frames.allocate();
        table.lock();
        try {
            table.mapLocked(3, f, PageTable.WRITE);
            assertThat(table.frameLocked(3)).isEqualTo(f);
            assertThat(table.presentLocked()).isEqualTo(1);
            assertThat(table.clearLocked(3)).isEqualTo(f);
            assertThat(table.frameLocked(3)).isEqualTo(-1);
            assertThat(table.presentLocked()).isZero();
        } finally {
            table.unlock();
        }
    }

    @Test
    void map_overPresentPage_throws() {
        table.lock();
        try {
            table.mapLocked(1, frames.allocate(), 0);
            int other = frames.allocate();
            assertThatThrownBy(() -> table.mapLocked(1, other, 0)).isInstanceOf(IllegalStateException.class);
        } finally {
            table.unlock();
        }
    }

    @Test
    void validate_sameFrameSameGeneration_isOk() {
        int f = frames.allocate();
        table.lock();
        try {
            table.mapLocked(2, f, PageTable.WRITE);
            assertThat(table.validateLocked(2, f, frames.generation(f), true)).isEqualTo(PageTable.Verdict.OK);
        } finally {
            table.unlock();
        }
    }

    @Test
    void validate_reportsEachKindOfStaleness() {
        int f = frames.allocate();
        int gen = frames.generation(f);
        table.lock();
        try {
            assertThat(table.validateLocked(2, f, gen, false)).isEqualTo(PageTable.Verdict.NOT_PRESENT);
            table.mapLocked(2, f, 0);
            assertThat(table.validateLocked(2, f, gen, true)).isEqualTo(PageTable.Verdict.WRITE_NOT_ALLOWED);
            int g = frames.allocate();
            assertThat(table.validateLocked(2, g, frames.generation(g), false)).isEqualTo(PageTable.Verdict.OTHER_FRAME);
            // free f and reuse it: same frame number, new generation
            table.clearLocked(2);
            frames.put(f);
            frames.put(g);
            int reused;
            do {
                reused = frames.allocate();
            } while (reused != f && reused >= 0);
            assertThat(reused).isEqualTo(f);
            table.mapLocked(2, f, PageTable.WRITE);
            assertThat(table.validateLocked(2, f, gen, false)).isEqualTo(PageTable.Verdict.STALE_GENERATION);
        } finally {
            table.unlock();
        }
    }

    @Test
    void staleWindow_allowsExactlyTheOldTranslation_untilItCloses() {
        int f = frames.allocate();
        int gen = frames.generation(f);
        long token;
        table.lock();
        try {
            table.mapLocked(3, f, PageTable.WRITE);
            token = table.markStaleLocked(3);
            table.clearLocked(3); // as the zap does: the frame is still held by the gather
            assertThat(table.validate(3, f, gen, true)).as("inside the window").isEqualTo(PageTable.Verdict.WINDOW);
            assertThat(table.validate(3, f, gen + 1, false)).as("another generation is never allowed")
                    .isEqualTo(PageTable.Verdict.NOT_PRESENT);
            assertThatThrownBy(() -> table.markStaleLocked(4)).as("a window needs a present entry")
                    .hasMessageContaining("page 4 is not present");
        } finally {
            table.unlock();
        }
        table.lock();
        try {
            table.unmarkStaleLocked(3, token);
            assertThat(table.staleLocked(3)).isFalse();
        } finally {
            table.unlock();
        }
        assertThat(table.validate(3, f, gen, false)).as("after the flush").isEqualTo(PageTable.Verdict.NOT_PRESENT);
    }

    @Test
    void staleWindow_writeProtect_allowsOldWritesOnlyInside_andWindowsOnOneTranslationNest() {
        int f = frames.allocate();
        int gen = frames.generation(f);
        table.lock();
        try {
            table.mapLocked(5, f, PageTable.WRITE);
            long forks = table.markStaleLocked(5);    // fork write-protects...
            table.setFlagsLocked(5, 0);
            long reclaims = table.markStaleLocked(5); // ...and reclaim unmaps it before fork's flush
            table.clearLocked(5);
            assertThat(table.validate(5, f, gen, true)).isEqualTo(PageTable.Verdict.WINDOW);
            table.unmarkStaleLocked(5, reclaims);     // reclaim's flush
            assertThat(table.validate(5, f, gen, true)).as("fork's window is still open")
                    .isEqualTo(PageTable.Verdict.WINDOW);
            table.unmarkStaleLocked(5, forks);        // fork's flush
            assertThat(table.validate(5, f, gen, true)).isEqualTo(PageTable.Verdict.NOT_PRESENT);
        } finally {
            table.unlock();
        }
    }

    @Test
    void staleWindow_onARefilledEntry_bothOldTranslationsStayInTheirWindows_eachClosedByItsOwner() {
        int a = frames.allocate();
        int genA = frames.generation(a);
        int b = frames.allocate();
        int genB = frames.generation(b);
        table.lock();
        try {
            table.mapLocked(7, a, PageTable.WRITE);
            long zaps = table.markStaleLocked(7);     // MADV_DONTNEED clears; its flush is pending
            table.clearLocked(7);
            table.mapLocked(7, b, 0);                 // a page fault refills the entry (read-only)
            long reclaims = table.markStaleLocked(7); // reclaim unmaps the new frame
            table.clearLocked(7);
            assertThat(table.staleLocked(7)).isTrue();
            assertThat(table.validate(7, a, genA, true)).isEqualTo(PageTable.Verdict.WINDOW);
            assertThat(table.validate(7, b, genB, false)).isEqualTo(PageTable.Verdict.WINDOW);
            assertThat(table.validate(7, b, genB, true)).as("the refill never allowed writes")
                    .isEqualTo(PageTable.Verdict.NOT_PRESENT);
            table.unmarkStaleLocked(7, reclaims);     // reclaim's flush
            assertThat(table.validate(7, b, genB, false)).isEqualTo(PageTable.Verdict.NOT_PRESENT);
            assertThat(table.validate(7, a, genA, true)).as("the zap's window stays open until its own flush")
                    .isEqualTo(PageTable.Verdict.WINDOW);
            assertThatThrownBy(() -> table.unmarkStaleLocked(7, reclaims)).hasMessageContaining("no open stale window");
            table.unmarkStaleLocked(7, zaps);         // the zap's flush
            assertThat(table.staleLocked(7)).isFalse();
            assertThat(table.validate(7, a, genA, false)).isEqualTo(PageTable.Verdict.NOT_PRESENT);
        } finally {
            table.unlock();
        }
    }

    @Test
    void staleWindow_theSecondWindowOnAPage_closesFirst_andTheFirstStaysOpen() {
        int a = frames.allocate();
        int genA = frames.generation(a);
        int b = frames.allocate();
        int genB = frames.generation(b);
        table.lock();
        try {
            table.mapLocked(8, a, PageTable.WRITE);
            long first = table.markStaleLocked(8);
            table.clearLocked(8);
            table.mapLocked(8, b, PageTable.WRITE);
            long second = table.markStaleLocked(8);
            table.clearLocked(8);
            table.unmarkStaleLocked(8, first);
            assertThat(table.validate(8, a, genA, false)).isEqualTo(PageTable.Verdict.NOT_PRESENT);
            assertThat(table.validate(8, b, genB, true)).isEqualTo(PageTable.Verdict.WINDOW);
            table.unmarkStaleLocked(8, second);
            assertThat(table.staleLocked(8)).isFalse();
        } finally {
            table.unlock();
        }
    }

    @Test
    void pmd_startsEmpty_becomesATableWithItsFirstEntry_andRefusesAHugeStateWithoutAWholeBlock() {
        PageTable big = new PageTable(new FrameAllocator(PageTable.HPAGE_PAGES + 1), PageTable.HPAGE_PAGES + 16);
        big.lock();
        try {
            assertThat(big.blocks()).isEqualTo(2);
            assertThat(big.pmdLocked(0)).isEqualTo(PageTable.PMD_NONE);
            big.mapLocked(3, 0, PageTable.WRITE);
            assertThat(big.pmdLocked(0)).as("pte_alloc").isEqualTo(PageTable.PMD_TABLE);
            assertThatThrownBy(() -> big.setPmdLocked(0, PageTable.PMD_HUGE)).hasMessageContaining("huge PMD for block 0");
            assertThatThrownBy(() -> big.setPmdLocked(0, PageTable.PMD_NONE)).hasMessageContaining("page 3");
            assertThatThrownBy(() -> big.setPmdLocked(1, PageTable.PMD_HUGE)).hasMessageContaining("not a whole block");
            assertThat(big.pmdLocked(0)).as("unchanged by the refusals").isEqualTo(PageTable.PMD_TABLE);
        } finally {
            big.unlock();
        }
    }
}
