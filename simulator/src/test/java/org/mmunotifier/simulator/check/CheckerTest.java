package org.mmunotifier.simulator.check;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.mmunotifier.simulator.kernel.FrameAllocator;
import org.mmunotifier.simulator.kernel.PageTable;

/** Access validation against the primary page table, and the violation log. */
class CheckerTest {
    private final FrameAllocator frames = new FrameAllocator(8);
    private final Checker checker = new Checker(true);
    private final PageTable table = new PageTable(frames, 16);

    private boolean check(int vpage, int frame, int gen, boolean write) {
        table.lock();
        try {
            return checker.checkAccess("test", table, vpage, frame, gen, write);
        } finally {
            table.unlock();
        }
    }

    @Test
    void coherentAccess_isNoViolation() {
        int f = frames.allocate();
        table.lock();
        table.mapLocked(1, f, PageTable.WRITE);
        table.unlock();
        assertThat(check(1, f, frames.generation(f), true)).isTrue();
        assertThat(checker.violations()).isZero();
        assertThat(checker.accessChecks()).isEqualTo(1);
    }

    @Test
    void staleAccesses_areCountedByKind() {
        int f = frames.allocate();
        int gen = frames.generation(f);
        assertThat(check(1, f, gen, false)).isFalse();
        table.lock();
        table.mapLocked(1, f, 0);
        table.unlock();
        assertThat(check(1, f, gen, true)).isFalse();
        assertThat(checker.violations(Checker.Kind.ACCESS_NOT_PRESENT)).isEqualTo(1);
        assertThat(checker.violations(Checker.Kind.ACCESS_WRITE_NOT_ALLOWED)).isEqualTo(1);
        assertThat(checker.violations()).isEqualTo(2);
        assertThat(checker.samples()).hasSize(2).allMatch(s -> s.contains("address 0x1000"));
        assertThat(checker.samples().get(0)).contains("the primary maps nothing");
        assertThat(checker.samples().get(1)).contains("the primary maps frame " + f + " generation " + gen + " (read-only)");
    }

    @Test
    void identicalViolationLines_areSampledOnce() {
        int f = frames.allocate();
        int gen = frames.generation(f);
        for (int i = 0; i < 5; i++) {
            check(2, f, gen, false); // the same stale read, five times
        }
        assertThat(checker.violations(Checker.Kind.ACCESS_NOT_PRESENT)).isEqualTo(5);
        assertThat(checker.samples()).hasSize(1);
    }

    @Test
    void disabledChecker_validatesNothing() {
        Checker off = new Checker(false);
        table.lock();
        try {
            assertThat(off.checkAccess("test", table, 1, 0, 0, true)).isTrue();
        } finally {
            table.unlock();
        }
        assertThat(off.violations()).isZero();
        assertThat(off.accessChecks()).isZero();
    }

    @Test
    void samples_keepOnlyTheFirstFew_andTheFirstOfEachKind() {
        for (int i = 0; i < 50; i++) {
            String distinct = "x" + i; // identical lines would be kept once
            checker.violation(Checker.Kind.FRAME_LEAK, () -> distinct);
        }
        checker.violation(Checker.Kind.DOUBLE_FREE, () -> "late but different");
        assertThat(checker.violations()).isEqualTo(51);
        // The first of each kind, then at most SAMPLES more: a flood of one kind hides no other.
        assertThat(checker.samples()).hasSize(2 + Checker.SAMPLES)
                .contains("notifier freed twice: late but different");
    }

    @Test
    void accessViolationSample_endsWithTheDriversContext_builtOnlyForTheMessage() {
        int[] built = new int[1];
        java.util.function.Supplier<String> context = () -> {
            built[0]++;
            return "open on its notifier: CLEAR [0x1000, 0x2000)";
        };
        int f = frames.allocate();
        table.lock();
        try {
            table.mapLocked(1, f, PageTable.WRITE);
            assertThat(checker.checkAccess("gpu", table, 1, f, frames.generation(f), true, context)).isTrue();
            assertThat(built[0]).as("no violation, no message").isZero();
            assertThat(checker.checkAccess("gpu", table, 2, f, frames.generation(f), false, context)).isFalse();
        } finally {
            table.unlock();
        }
        assertThat(checker.samples()).singleElement().asString().startsWith("access to an unmapped page: gpu read")
                .contains("address 0x2000").endsWith("; open on its notifier: CLEAR [0x1000, 0x2000)");
    }
}
