package org.mmunotifier.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class CheckerTest {
    private final FrameAllocator frames = new FrameAllocator(8);
    private final Checker checker = new Checker(true);
    private final Kernel kernel = new Kernel(frames, checker, 16, 4);
    private final PageTable table = new PageTable(frames, 16);

    private boolean check(int vpage, int frame, int gen, boolean write) {
        table.lock();
        try {
            return checker.checkAccessLocked("test", table, vpage, frame, gen, write);
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
        assertThat(checker.samples()).hasSize(2).allMatch(s -> s.contains("page 1"));
    }

    @Test
    void disabledChecker_validatesNothing() {
        Checker off = new Checker(false);
        table.lock();
        try {
            assertThat(off.checkAccessLocked("test", table, 1, 0, 0, true)).isTrue();
        } finally {
            table.unlock();
        }
        assertThat(off.violations()).isZero();
        assertThat(off.accessChecks()).isZero();
    }

    @Test
    void samples_keepOnlyTheFirstFew_andTheFirstOfEachKind() {
        for (int i = 0; i < 50; i++) {
            checker.violation(Checker.Kind.FRAME_LEAK, () -> "x");
        }
        checker.violation(Checker.Kind.DOUBLE_FREE, () -> "late but different");
        assertThat(checker.violations()).isEqualTo(51);
        // The first of each kind, then at most SAMPLES more: a flood of one kind hides no other.
        assertThat(checker.samples()).hasSize(2 + Checker.SAMPLES)
                .contains("notifier freed twice: late but different");
    }

    private MirrorNotifier notifier() {
        Process p = new Process(1, frames, 16, kernel);
        return new MirrorNotifier(new GpuMirrorDriver(kernel, Inject.NONE), p);
    }

    @Test
    void free_whileAnotherCallbackRuns_isAViolation() {
        MirrorNotifier mn = notifier();
        mn.enter();  // a callback running (another thread's, as far as free() is told)
        mn.free();
        mn.exit();
        assertThat(checker.violations(Checker.Kind.FREE_DURING_OTHER_CALLBACK)).isEqualTo(1);
        assertThat(checker.violations(Checker.Kind.CALLBACK_ON_FREED_STATE)).isEqualTo(1);
    }

    @Test
    void free_fromInsideItsOwnCallback_isAViolationOfItsOwnKind() {
        MirrorNotifier mn = notifier();
        mn.enter();
        mn.free(true); // e.g. release putting and freeing from inside itself
        mn.exit();
        assertThat(checker.violations(Checker.Kind.FREE_DURING_CALLBACK)).isEqualTo(1);
        assertThat(checker.violations(Checker.Kind.FREE_DURING_OTHER_CALLBACK)).isZero();
    }

    @Test
    void callback_afterFree_isAViolation() {
        MirrorNotifier mn = notifier();
        mn.free();
        mn.enter();
        mn.exit();
        assertThat(checker.violations(Checker.Kind.CALLBACK_ON_FREED_STATE)).isEqualTo(2);
    }

    @Test
    void free_twice_isAViolation() {
        MirrorNotifier mn = notifier();
        mn.free();
        mn.free();
        assertThat(checker.violations(Checker.Kind.DOUBLE_FREE)).isEqualTo(1);
        assertThat(mn.driver.freed.sum()).isEqualTo(1);
    }

    @Test
    void callbacks_beforeFree_areClean() {
        MirrorNotifier mn = notifier();
        mn.enter();
        mn.exit();
        mn.free();
        assertThat(checker.violations()).isZero();
    }
}
