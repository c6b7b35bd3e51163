package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The might_sleep() rule: blocking methods of Srcu refuse inside an atomic frame. */
class ExecutionContextTest {
    private final Srcu srcu = new Srcu("ctx-test");

    @AfterEach
    void tearDown() {
        srcu.close();
    }

    @Test
    void framesNest_andOnlyAtomicOnesForbidSleeping() {
        ExecutionContext c = ExecutionContext.current();
        assertThat(c.depth()).isZero();
        assertThat(c.inAtomic()).isFalse();
        c.enter(ExecutionContext.frame("release", false));
        try {
            assertThat(c.depth()).isEqualTo(1);
            assertThat(c.inAtomic()).isFalse();
            c.mightSleep("anything"); // a sleepable frame allows it
            c.enter(ExecutionContext.frame("invalidateRange", true));
            try {
                assertThat(c.inAtomic()).isTrue();
                assertThat(c.describeInnermost()).isEqualTo("the invalidateRange callback");
            } finally {
                c.exit();
            }
            assertThat(c.inAtomic()).isFalse();
            assertThat(c.describeInnermost()).isEqualTo("the release callback");
        } finally {
            c.exit();
        }
        assertThat(c.depth()).isZero();
        assertThat(c.describeInnermost()).isEqualTo("no callback");
    }

    @Test
    void frame_carriesItsNameAndKind() {
        ExecutionContext.Frame atomic = ExecutionContext.frame("changePte", true);
        ExecutionContext.Frame sleepable = ExecutionContext.frame("release", false);
        assertThat(atomic.callback()).isEqualTo("changePte");
        assertThat(atomic.atomic()).isTrue();
        assertThat(atomic).hasToString("the changePte callback (atomic)");
        assertThat(sleepable.callback()).isEqualTo("release");
        assertThat(sleepable.atomic()).isFalse();
        assertThat(sleepable).hasToString("the release callback");
    }

    @Test
    void deepNesting_growsTheStack_andUnwindsExactly() {
        ExecutionContext c = ExecutionContext.current();
        for (int i = 0; i < 20; i++) {
            c.enter(ExecutionContext.frame("cb" + i, i == 7));
        }
        assertThat(c.depth()).isEqualTo(20);
        assertThat(c.inAtomic()).isTrue();
        assertThatThrownBy(() -> c.mightSleep("X")).hasMessageContaining("the cb7 callback");
        for (int i = 19; i >= 0; i--) {
            assertThat(c.inAtomic()).isEqualTo(i >= 7);
            c.exit();
        }
        assertThat(c.depth()).isZero();
    }

    @Test
    void exitWithoutEnter_isRefused_andChangesNothing() {
        ExecutionContext c = ExecutionContext.current();
        assertThatThrownBy(c::exit).isInstanceOf(IllegalStateException.class).hasMessageContaining("without a matching enter");
        assertThat(c.depth()).isZero();
    }

    @Test
    void refusal_namesTheInnermostOpenAtomicFrame_notOneAlreadyExited() {
        ExecutionContext c = ExecutionContext.current();
        c.enter(ExecutionContext.frame("invalidateRangeStart", true));
        c.enter(ExecutionContext.frame("release", false));
        c.enter(ExecutionContext.frame("invalidateRangeEnd", true));
        c.exit(); // inner and middle are gone; their slots still hold the old frames
        c.exit();
        try {
            assertThatThrownBy(() -> c.mightSleep("Srcu.synchronize()"))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("Srcu.synchronize() called from the invalidateRangeStart callback,")
                    .hasMessageNotContaining("invalidateRangeEnd");
        } finally {
            c.exit();
        }
    }

    @Test
    void checkMightSleep_appliesTheCallingThreadsContext() {
        ExecutionContext.checkMightSleep("outside every frame"); // allowed
        ExecutionContext c = ExecutionContext.current();
        c.enter(ExecutionContext.frame("invalidatePage", true));
        try {
            assertThatThrownBy(() -> ExecutionContext.checkMightSleep("Thread.sleep()"))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("Thread.sleep() called from the invalidatePage callback,");
        } finally {
            c.exit();
        }
        ExecutionContext.checkMightSleep("after the frame"); // allowed again
    }

    @Test
    void toString_showsDepthAtomicCountAndInnermostFrame() {
        ExecutionContext c = ExecutionContext.current();
        assertThat(c).hasToString("ExecutionContext[depth=0, atomic=0, innermost=no callback]");
        c.enter(ExecutionContext.frame("release", false));
        c.enter(ExecutionContext.frame("invalidateRange", true));
        try {
            assertThat(c).hasToString(
                    "ExecutionContext[depth=2, atomic=1, innermost=the invalidateRange callback]");
        } finally {
            c.exit();
            c.exit();
        }
    }

    @Test
    void contextsArePerThread() throws Exception {
        ExecutionContext c = ExecutionContext.current();
        c.enter(ExecutionContext.frame("invalidateRange", true));
        try {
            boolean[] otherAtomic = {true};
            Thread t = new Thread(() -> otherAtomic[0] = ExecutionContext.current().inAtomic());
            t.start();
            t.join();
            assertThat(otherAtomic[0]).isFalse();
        } finally {
            c.exit();
        }
    }

    @Test
    void synchronize_barrier_expedited_andClose_refuseInAnAtomicFrame_andChangeNothing() {
        ExecutionContext c = ExecutionContext.current();
        long gps = srcu.gracePeriodsCompleted();
        c.enter(ExecutionContext.frame("invalidateRange", true));
        try {
            assertThatThrownBy(srcu::synchronize).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("Srcu.synchronize() of domain 'ctx-test'")
                    .hasMessageContaining("the invalidateRange callback")
                    .hasMessageContaining("must not sleep");
            assertThatThrownBy(srcu::synchronizeExpedited).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("synchronizeExpedited");
            assertThatThrownBy(srcu::barrier).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("barrier");
            assertThatThrownBy(srcu::close).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("close");
            // Checked before callSrcu below: its callback's grace period may start at any moment.
            assertThat(srcu.gracePeriodsCompleted()).as("the refused calls ran no grace period").isEqualTo(gps);
            // never-blocking calls stay allowed
            int idx = srcu.readLock();
            srcu.readUnlock(idx);
            srcu.callSrcu(() -> { });
        } finally {
            c.exit();
        }
        srcu.barrier(); // the domain is still open and usable
        srcu.synchronize();
        assertThat(srcu.gracePeriodsCompleted()).isGreaterThan(gps);
    }
}
