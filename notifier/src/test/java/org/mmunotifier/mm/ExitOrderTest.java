package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * The last mmput runs 5.4's exit order (__mmput -> exit_mmap): every release, each while its
 * notifier is still linked; the unlink and a grace period; the owner's teardown on a live mm;
 * then the final mmdrop. Each step is observed by what runs in it.
 */
class ExitOrderTest extends NotifierTestBase {
    private final List<String> steps = new ArrayList<>();

    private synchronized void step(String s) {
        steps.add(s);
    }

    @Test
    void lastMmput_release_thenUnlinkAndGracePeriod_thenTeardownOnALiveMm_thenFinalMmdrop() {
        Recorder[] regd = new Recorder[1];
        MmStruct[] self = new MmStruct[1];
        Recorder.Ops ops = new Recorder.Ops("exit") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            void onRelease(Recorder mn, MmStruct m) {
                // B-27: still linked while its release runs, on an mm without users
                step("release " + mn.name + " linked=" + mn.linked() + " inList="
                        + List.of(m.subscriptions.list).contains(mn) + " users=" + m.users()
                        + " destroyed=" + m.isDestroyed());
            }

            @Override
            public void invalidateRange(Recorder mn, MmStruct m, long start, long end) {
                step("invalidateRange reached " + mn.name);
            }
        };
        MmStruct mm = new MmStruct("pid 1", m -> {
            // the owner's exit_mmap body: runs on a live mm, after every release and the unlink
            step("teardown list=" + m.subscriptions.list.length + " users=" + m.users() + " count=" + m.count()
                    + " destroyed=" + m.isDestroyed() + " released=" + regd[0].releases.get());
            MmuNotifierRange unmap = new MmuNotifierRange(m, 0, 0x10000, MmuNotifierEvent.UNMAP);
            PrimaryMmu.invalidateRangeStart(unmap); // reaches no list notifier: they are unlinked
            PrimaryMmu.invalidateRangeEnd(unmap);
            m.mmapWriteLock(); // the mm is alive: its lock works
            m.mmapWriteUnlock();
            assertThat(m.mmgetNotZero()).as("no user can be taken any more").isFalse();
            assertThatThrownBy(() -> MmuNotifiers.get(this_ops(regd[0]), m))
                    .as("nothing can register during the teardown").isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("no users");
            step("teardown done");
        });
        self[0] = mm;
        Recorder viaGet = MmuNotifiers.get(ops, mm);
        regd[0] = track(new Recorder("registered", ops));
        MmuNotifiers.register(regd[0], mm);
        mm.mmgrab(); // keep the structure to look at it after the exit
        assertThat(mm.count()).isEqualTo(4);

        mm.mmput();

        assertThat(steps).containsExactly(
                "release registered linked=true inList=true users=0 destroyed=false",
                "release exit#1 linked=true inList=true users=0 destroyed=false",
                "teardown list=0 users=0 count=4 destroyed=false released=1",
                "teardown done");
        assertThat(mm.count()).as("the final mmdrop of the users' reference ran after the teardown").isEqualTo(3);
        MmuNotifiers.put(viaGet);
        MmuNotifiers.unregister(regd[0], mm);
        MmuNotifiers.synchronize();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
        assertThat(mm.isDestroyed()).isTrue();
    }

    private static Recorder.Ops this_ops(Recorder r) {
        return (Recorder.Ops) r.ops();
    }

    @Test
    void theFinalMmdrop_comesAfterTheTeardown_andDestroysTheMmWhenNothingElseHoldsIt() {
        boolean[] aliveInTeardown = new boolean[1];
        MmStruct mm = new MmStruct("pid 2", m -> aliveInTeardown[0] = !m.isDestroyed() && m.count() == 1);
        mm.mmput();
        assertThat(aliveInTeardown[0]).isTrue();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void aThrowingTeardown_stillCompletesTheExit_andReachesTheCaller_withAThrowingReleaseSuppressed() {
        RuntimeException fromRelease = new IllegalArgumentException("release failed");
        RuntimeException fromTeardown = new IllegalStateException("teardown failed");
        Recorder.Ops ops = new Recorder.Ops("throwing") {
            @Override
            void onRelease(Recorder mn, MmStruct m) {
                throw fromRelease;
            }
        };
        MmStruct mm = new MmStruct("pid 3", m -> {
            throw fromTeardown;
        });
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        assertThatThrownBy(mm::mmput).isSameAs(fromRelease);
        assertThat(fromRelease.getSuppressed()).containsExactly(fromTeardown);
        assertThat(mm.users()).isZero();
        assertThat(mm.count()).as("the users' reference was dropped all the same").isEqualTo(1);
        assertThat(mm.subscriptions.list).isEmpty();
        MmuNotifiers.unregister(mn, mm);
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void exitWaitsForARacingUnregistersRelease_beforeTheTeardownRuns() throws Exception {
        CountDownLatch inRelease = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        Recorder.Ops ops = Recorder.Ops.blockingRelease("racing", inRelease, proceed);
        List<String> seen = new ArrayList<>();
        Recorder mn = track(new Recorder("a", ops));
        MmStruct mm = new MmStruct("pid 4", m -> {
            synchronized (seen) {
                seen.add("teardown after release returned: " + (mn.releases.get() == 1 && mn.active.get() == 0));
            }
        });
        MmuNotifiers.register(mn, mm);
        Worker unreg = new Worker("unregister", () -> MmuNotifiers.unregister(mn, mm));
        inRelease.await();
        Worker exit = new Worker("exit", mm::mmput);
        awaitParked(exit, "exit must wait for the release run by unregister");
        synchronized (seen) {
            assertThat(seen).as("the teardown has not run while a release runs").isEmpty();
        }
        proceed.countDown();
        exit.joinChecked();
        unreg.joinChecked();
        assertThat(seen).containsExactly("teardown after release returned: true");
        assertThat(mn.releases.get()).isEqualTo(1);
        assertThat(mm.isDestroyed()).isTrue();
    }
}
