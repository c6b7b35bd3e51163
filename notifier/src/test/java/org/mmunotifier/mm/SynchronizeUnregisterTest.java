package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** B-21 .. B-26: mmu_notifier_synchronize and mmu_notifier_unregister. */
class SynchronizeUnregisterTest extends NotifierTestBase {

    @Test
    void B21_synchronize_waitsForEveryFreeQueuedByPutsOnOtherThreads() throws Exception {
        int n = 16;
        List<Recorder> notifiers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            notifiers.add(MmuNotifiers.get(trackingOps("m" + i), new MmStruct()));
        }
        List<Worker> workers = new ArrayList<>();
        for (Recorder mn : notifiers) {
            workers.add(new Worker("put-" + mn.name, () -> MmuNotifiers.put(mn)));
        }
        for (Worker w : workers) {
            w.joinChecked();
        }
        MmuNotifiers.synchronize();
        assertThat(notifiers).allSatisfy(mn -> assertThat(mn.frees.get()).isEqualTo(1));
    }

    /**
     * The test that tells a barrier from a grace-period wait: a free that is still running when
     * synchronize() is called must finish before it returns. A synchronize() that only waited for
     * a grace period (the 5.4 body, synchronize_srcu) returns while the free is blocked.
     */
    /** Tracked ops whose free signals {@code inFree}, blocks on {@code finishFree}, then sets {@code done}. */
    private Recorder.Ops slowFreeOps(CountDownLatch inFree, CountDownLatch finishFree, AtomicBoolean done) {
        return new Recorder.Ops("slow") {
            @Override
            public Recorder allocNotifier(MmStruct mm) {
                return track(super.allocNotifier(mm));
            }

            @Override
            void onFree(Recorder mn) {
                inFree.countDown();
                try {
                    finishFree.await();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                done.set(true);
            }
        };
    }

    @Test
    void B21_synchronize_isABarrier_itWaitsForAFreeThatIsStillRunning() throws Exception {
        CountDownLatch inFree = new CountDownLatch(1);
        CountDownLatch finishFree = gate();
        AtomicBoolean freeDone = new AtomicBoolean();
        Recorder.Ops slowFree = slowFreeOps(inFree, finishFree, freeDone);
        Recorder mn = MmuNotifiers.get(slowFree, new MmStruct());
        MmuNotifiers.put(mn);
        inFree.await(); // the free is running (blocked)
        Worker sync = new Worker("synchronize", MmuNotifiers::synchronize);
        sync.join(300);
        assertThat(sync.isAlive()).as("synchronize() returned while a queued free was still running").isTrue();
        finishFree.countDown();
        sync.joinChecked();
        assertThat(freeDone.get()).as("the free has completed when synchronize() returns").isTrue();
    }

    /** Negative control for the test above: a plain grace-period wait does not wait for the free. */
    @Test
    void B21_negativeControl_aGracePeriodAloneReturnsWhileTheFreeRuns() throws Exception {
        CountDownLatch inFree = new CountDownLatch(1);
        CountDownLatch finishFree = gate();
        AtomicBoolean freeDone = new AtomicBoolean();
        Recorder.Ops slowFree = slowFreeOps(inFree, finishFree, freeDone);
        Recorder mn = MmuNotifiers.get(slowFree, new MmStruct());
        MmuNotifiers.put(mn);
        inFree.await();
        try {
            Worker gp = new Worker("synchronize_srcu", NotifierDomain.SRCU::synchronize);
            gp.join(TimeUnit.SECONDS.toMillis(20));
            assertThat(gp.isAlive()).as("a grace period does not wait for running callbacks").isFalse();
            assertThat(freeDone.get()).as("the free has not completed: the check above can fail").isFalse();
        } finally {
            finishFree.countDown();
        }
    }

    @Test
    void B21_synchronize_fromACallback_throwsInsteadOfDeadlocking() {
        MmStruct mm = new MmStruct();
        AtomicReference<Throwable> fromStart = new AtomicReference<>();
        AtomicReference<Throwable> fromFree = new AtomicReference<>();
        Recorder.Ops calling = new Recorder.Ops("sync") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                try {
                    MmuNotifiers.synchronize();
                } catch (Throwable t) {
                    fromStart.set(t);
                }
                return true;
            }

            @Override
            void onFree(Recorder mn) {
                try {
                    MmuNotifiers.synchronize();
                } catch (Throwable t) {
                    fromFree.set(t);
                }
            }
        };
        Recorder mn = MmuNotifiers.get(calling, mm);
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize();
        assertThat(fromStart.get()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("MmuNotifiers.synchronize()").hasMessageContaining("callback");
        assertThat(fromFree.get()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("freeNotifier");
    }

    @Test
    void B22_unregister_onDestroyedMm_isRefused() {
        MmStruct live = new MmStruct();
        Recorder mn = track(new Recorder("a", trackingOps("x")));
        MmuNotifiers.register(mn, live);
        MmStruct dead = new MmStruct();
        dead.mmput();
        assertThat(dead.count()).isZero();
        assertThatThrownBy(() -> MmuNotifiers.unregister(mn, dead))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("destroyed");
        assertThatThrownBy(() -> MmuNotifiers.unregister(mn, new MmStruct()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("not registered on");
        MmuNotifiers.unregister(mn, live);
        assertThatThrownBy(() -> MmuNotifiers.unregister(mn, live))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("already unregistered");
        assertThat(live.count()).isEqualTo(1);
    }

    @Test
    void B23_unregister_callsReleaseIfLinked_thenUnlinks() {
        MmStruct mm = new MmStruct();
        List<String> order = new ArrayList<>();
        Recorder.Ops ops = new Recorder.Ops("rel") {
            @Override
            void onRelease(Recorder mn, MmStruct m) {
                order.add("release linked=" + mn.linked() + " inSection=" + NotifierDomain.SRCU.readLockHeld());
            }
        };
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        MmuNotifiers.unregister(mn, mm);
        assertThat(order).containsExactly("release linked=true inSection=true");
        assertThat(mn.linked()).isFalse();
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void B23_unregisterAfterExit_skipsRelease_butStillDropsTheMm() {
        MmStruct mm = new MmStruct();
        mm.mmgrab(); // keep the struct to look at
        Recorder mn = track(new Recorder("a", trackingOps("x")));
        MmuNotifiers.register(mn, mm);
        mm.mmput();
        assertThat(mn.releases.get()).isEqualTo(1);
        MmuNotifiers.unregister(mn, mm);
        assertThat(mn.releases.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B24_unregister_waitsForRunningCallbacks_thenNothingRunsAgain() throws Exception {
        MmStruct mm = new MmStruct();
        CountDownLatch inStart = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        Recorder.Ops blocking = new Recorder.Ops("blk") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                inStart.countDown();
                try {
                    proceed.await();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                return true;
            }
        };
        Recorder mn = track(new Recorder("a", blocking));
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange r = range(mm);
        Worker inv = new Worker("invalidator", () -> {
            PrimaryMmu.invalidateRangeStart(r);
            PrimaryMmu.invalidateRangeEnd(r);
        });
        inStart.await();
        Worker unreg = new Worker("unregister", () -> MmuNotifiers.unregister(mn, mm));
        unreg.join(300);
        awaitParked(unreg, "unregister must wait for the running callback"); // only its grace period parks
        assertThat(unreg.isAlive()).as("unregister must wait for the running callback").isTrue();
        assertThat(mn.active.get()).isEqualTo(1);
        assertThat(mn.linked()).as("unlinked before the wait").isFalse();
        assertThat(mm.count()).as("B-37: the notifier's mm reference is dropped only after the grace period")
                .isEqualTo(2);
        proceed.countDown();
        unreg.joinChecked();
        assertThat(mn.active.get()).isZero();
        inv.joinChecked();
        int calls = mn.logSnapshot().size();
        MmuNotifierRange later = range(mm);
        PrimaryMmu.invalidateRangeStart(later);
        PrimaryMmu.invalidateRangeEnd(later);
        assertThat(mn.logSnapshot()).hasSize(calls);
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void B24_unregister_fromACallback_throwsInsteadOfDeadlocking() {
        MmStruct mm = new MmStruct();
        AtomicReference<Throwable> caught = new AtomicReference<>();
        Recorder[] self = new Recorder[1];
        Recorder.Ops ops = new Recorder.Ops("self") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                try {
                    MmuNotifiers.unregister(self[0], mm);
                } catch (Throwable t) {
                    caught.set(t);
                }
                return true;
            }
        };
        self[0] = track(new Recorder("a", ops));
        MmuNotifiers.register(self[0], mm);
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(caught.get()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("MmuNotifiers.unregister called from the invalidateRangeStart callback")
                .hasMessageContaining("would deadlock");
        assertThat(self[0].linked()).as("nothing changed").isTrue();
        MmuNotifiers.unregister(self[0], mm);
    }

    /**
     * B-25, the port's decision: release runs at most once per registration. Here exit's release
     * is running when unregister comes: unregister skips release and waits for exit's.
     */
    @Test
    void B25_unregisterRacingExit_releaseRunsOnce_andUnregisterWaitsForIt() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmgrab();
        CountDownLatch inRelease = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        Recorder.Ops ops = Recorder.Ops.blockingRelease("race", inRelease, proceed);
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        Worker exit = new Worker("exit", mm::mmput);
        inRelease.await();
        Worker unreg = new Worker("unregister", () -> MmuNotifiers.unregister(mn, mm));
        unreg.join(300);
        assertThat(unreg.isAlive()).as("unregister waits for exit's release").isTrue();
        proceed.countDown();
        unreg.joinChecked();
        exit.joinChecked();
        assertThat(mn.releases.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
    }

    @Test
    void B25_exitRacingUnregister_releaseRunsOnce_andExitWaitsForIt() throws Exception {
        MmStruct mm = new MmStruct();
        mm.mmgrab();
        CountDownLatch inRelease = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        Recorder.Ops ops = Recorder.Ops.blockingRelease("race", inRelease, proceed);
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        Worker unreg = new Worker("unregister", () -> MmuNotifiers.unregister(mn, mm));
        inRelease.await();
        Worker exit = new Worker("exit", mm::mmput);
        exit.join(300);
        assertThat(exit.isAlive()).as("exit waits for the release run by unregister (B-27)").isTrue();
        proceed.countDown();
        exit.joinChecked();
        unreg.joinChecked();
        assertThat(mn.releases.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
    }

    @Test
    void B26_thereIsNoUnregisterNoRelease() {
        assertThat(Arrays.stream(MmuNotifiers.class.getMethods()).map(Method::getName))
                .doesNotContain("unregisterNoRelease", "callSrcu")
                .contains("put", "synchronize", "unregister");
    }

    @Test
    void apiSplit_theDriversBaseTypeHasNoStaticApi() {
        assertThat(Arrays.stream(MmuNotifier.class.getDeclaredMethods())
                .filter(m -> java.lang.reflect.Modifier.isStatic(m.getModifiers()))
                .filter(m -> java.lang.reflect.Modifier.isPublic(m.getModifiers())
                        || java.lang.reflect.Modifier.isProtected(m.getModifiers()))
                .map(Method::getName))
                .as("a driver subclass must not inherit registration or event methods into its namespace")
                .isEmpty();
        assertThat(Arrays.stream(PrimaryMmu.class.getMethods()).map(Method::getName))
                .contains("invalidateRangeStart", "invalidateRangeStartNonblock", "invalidateRangeEnd",
                        "invalidateRangeOnlyEnd", "invalidateRange", "clearFlushYoung", "clearYoung", "testYoung",
                        "changePte")
                .doesNotContain("get", "put", "register", "unregister");
    }
}
