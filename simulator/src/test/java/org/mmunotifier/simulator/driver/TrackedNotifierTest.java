package org.mmunotifier.simulator.driver;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mmunotifier.mm.MmuNotifierEvent;
import org.mmunotifier.mm.MmuNotifierRange;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.kernel.FrameAllocator;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.Process;

/** The lifetime checks a driver's notifier reports to the checker: enter, exit and free. */
class TrackedNotifierTest {
    private final FrameAllocator frames = new FrameAllocator(8);
    private final Checker checker = new Checker(true);
    private final Kernel kernel = new Kernel(frames, checker, 16, 4);

    private MirrorNotifier notifier() {
        Process p = kernel.spawn(new SplittableRandom(1), new Stats());
        return new MirrorNotifier(new GpuMirrorDriver(kernel, Inject.NONE), p);
    }

    @Test
    void free_whileAnotherCallbackRuns_isAViolation() {
        MirrorNotifier mn = notifier();
        mn.enter("invalidateRangeStart", null);  // a callback running (another thread's, as far as free() is told)
        mn.free();
        mn.exit("invalidateRangeStart", null);
        assertThat(checker.violations(Checker.Kind.FREE_DURING_OTHER_CALLBACK)).isEqualTo(1);
        assertThat(checker.violations(Checker.Kind.CALLBACK_ON_FREED_STATE)).isEqualTo(1);
    }

    @Test
    void free_fromInsideItsOwnCallback_isAViolationOfItsOwnKind() {
        MirrorNotifier mn = notifier();
        mn.enter("invalidateRangeStart", null);
        mn.free("release"); // e.g. release putting and freeing from inside itself
        mn.exit("invalidateRangeStart", null);
        assertThat(checker.violations(Checker.Kind.FREE_DURING_CALLBACK)).isEqualTo(1);
        assertThat(checker.violations(Checker.Kind.FREE_DURING_OTHER_CALLBACK)).isZero();
    }

    @Test
    void callback_afterFree_isAViolation() {
        MirrorNotifier mn = notifier();
        mn.free();
        mn.enter("invalidateRangeStart", null);
        mn.exit("invalidateRangeStart", null);
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
        mn.enter("invalidateRangeStart", null);
        mn.exit("invalidateRangeStart", null);
        mn.free();
        assertThat(checker.violations()).isZero();
    }

    @Test
    void violationSamples_nameTheCallback_andTheEventAndRangeOfItsBracket() {
        MirrorNotifier mn = notifier();
        MmuNotifierRange range = new MmuNotifierRange(mn.process.mm, 0x1000, 0x3000, MmuNotifierEvent.CLEAR, true);
        mn.free();
        mn.enter("invalidateRangeStart", range);
        mn.exit("invalidateRangeStart", range);
        assertThat(checker.samples()).anyMatch(s -> s.contains("gpu invalidateRangeStart (CLEAR [0x1000, 0x3000)) entered "
                + "on freed state"));
        assertThat(checker.samples()).anyMatch(s -> s.contains("gpu invalidateRangeStart (CLEAR [0x1000, 0x3000)) on "
                + "process") && s.contains("still ran when its state was freed"));
    }

    @Test
    void freeFromInsideACallback_namesThatCallback() {
        MirrorNotifier mn = notifier();
        mn.enter("release", null);
        mn.free("release");
        mn.exit("release", null);
        assertThat(checker.samples()).anyMatch(s -> s.startsWith("free while a callback runs:")
                && s.contains("freed from inside its release callback"));
    }

    @Test
    void openBrackets_areTheStartsTheNotifierSawWithoutTheirEnds() {
        MirrorNotifier mn = notifier();
        MmuNotifierRange range = new MmuNotifierRange(mn.process.mm, 0x2000, 0x4000, MmuNotifierEvent.UNMAP, true);
        assertThat(mn.openBracketsLocked()).isEqualTo("no invalidation bracket open on its notifier");
        assertThat(mn.invalidateStart(range)).isTrue();
        assertThat(mn.openBracketsLocked()).isEqualTo("open on its notifier: UNMAP [0x2000, 0x4000)");
        mn.invalidateEnd(range);
        assertThat(mn.openBracketsLocked()).isEqualTo("no invalidation bracket open on its notifier");
    }
}
