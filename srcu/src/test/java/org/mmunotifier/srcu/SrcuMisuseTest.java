package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNullPointerException;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Behaviour 5 in docs/srcu.md: misuse fails fast with a message and leaves the domain intact,
 * never a silent deadlock or corruption.
 */
class SrcuMisuseTest {

    @Test
    void synchronizeInsideReadSection_throwsWouldDeadlock_andSectionStaysOpen() {
        try (Srcu srcu = new Srcu("self-deadlock")) {
            int idx = srcu.readLock();
            assertThatThrownBy(srcu::synchronize).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("synchronize()").hasMessageContaining("deadlock");
            assertThatThrownBy(srcu::synchronizeExpedited).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("synchronizeExpedited()").hasMessageContaining("deadlock");
            assertThatThrownBy(srcu::barrier).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("barrier()").hasMessageContaining("deadlock");
            assertThat(srcu.readLockHeld()).isTrue();
            srcu.readUnlock(idx);
            srcu.synchronize(); // the domain still works
        }
    }

    @Test
    void readUnlock_invalidIndex_throws_andNothingChanges() {
        try (Srcu srcu = new Srcu("bad-index")) {
            int idx = srcu.readLock();
            for (int bad : new int[] {-1, 2, 7, Integer.MIN_VALUE}) {
                assertThatThrownBy(() -> srcu.readUnlock(bad)).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("readUnlock(" + bad + ")").hasMessageContaining("0 or 1");
            }
            assertThat(srcu.activeReaders()).isEqualTo(1);
            srcu.readUnlock(idx);
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    @Test
    void readUnlock_withoutMatchingLock_throws_andCountersStayBalanced() {
        try (Srcu srcu = new Srcu("unmatched")) {
            assertThatThrownBy(() -> srcu.readUnlock(0)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("holds no read section");
            int idx = srcu.readLock();
            assertThatThrownBy(() -> srcu.readUnlock(idx ^ 1)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("index " + (idx ^ 1));
            srcu.readUnlock(idx);
            assertThatThrownBy(() -> srcu.readUnlock(idx)).as("double unlock")
                    .isInstanceOf(IllegalStateException.class);
            assertThat(srcu.activeReaders()).isZero();
            srcu.synchronize();
        }
    }

    @Test
    void readUnlock_onAnotherThread_throws_pointingToDownReadUpRead() throws Exception {
        try (Srcu srcu = new Srcu("cross-thread")) {
            int idx = srcu.readLock();
            CompletableFuture<Throwable> other = CompletableFuture.supplyAsync(() -> {
                try {
                    srcu.readUnlock(idx);
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            assertThat(other.get(30, TimeUnit.SECONDS)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("downRead()/upRead()");
            assertThat(srcu.readLockHeld()).isTrue();
            srcu.readUnlock(idx);
        }
    }

    @Test
    void upRead_withoutDownRead_throws_andNothingChanges() {
        try (Srcu srcu = new Srcu("unmatched-up")) {
            assertThatThrownBy(() -> srcu.upRead(0)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("no downRead()");
            assertThatThrownBy(() -> srcu.upRead(5)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("0 or 1");
            int idx = srcu.downRead();
            assertThatThrownBy(() -> srcu.upRead(idx ^ 1)).isInstanceOf(IllegalStateException.class);
            srcu.upRead(idx);
            assertThatThrownBy(() -> srcu.upRead(idx)).as("a second upRead for one downRead")
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("no downRead()");
            assertThat(srcu.activeReaders()).isZero();
            srcu.synchronize();
        }
    }

    @Test
    void close_withActiveReader_throwsNamingTheCount_andDomainStaysUsable() {
        Srcu srcu = new Srcu("close-readers");
        int a = srcu.downRead();
        int b = srcu.downRead();
        assertThatThrownBy(srcu::close).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("2 reader(s) active");
        srcu.upRead(a);
        srcu.upRead(b);
        int idx = srcu.readLock(); // still open
        srcu.readUnlock(idx);
        srcu.synchronize();
        srcu.close();
    }

    @Test
    void close_whileAGracePeriodWaitsForAReader_refusesNamingTheReader_withoutWaiting() throws Exception {
        Srcu srcu = new Srcu("close-during-gp");
        int idx = srcu.downRead();
        Thread syncer = new Thread(srcu::synchronize, "syncer");
        syncer.start();
        SrcuWaitPolicyTest.awaitParkedOn(srcu, syncer); // it holds the grace-period lock
        assertThatThrownBy(srcu::close).isInstanceOf(IllegalStateException.class)
                .hasMessage("cannot close SRCU domain 'close-during-gp': 1 reader(s) active, 0 callback(s) pending"
                        + " (end the readers and call barrier() first)");
        srcu.upRead(idx);
        syncer.join();
        srcu.close();
    }

    @Test
    void toString_namesTheDomainItsGracePeriodsAndWhetherItIsClosed() {
        Srcu srcu = new Srcu("shown");
        assertThat(srcu).hasToString("Srcu[shown, gp=0]");
        srcu.synchronize();
        assertThat(srcu).hasToString("Srcu[shown, gp=1]");
        srcu.close();
        assertThat(srcu).hasToString("Srcu[shown, gp=1, closed]");
    }

    @Test
    void close_withPendingCallbacks_throwsNamingTheCount_andCallbacksStillRun() throws Exception {
        Srcu srcu = new Srcu("close-callbacks");
        int idx = srcu.downRead(); // holds the grace period, so the callbacks stay pending
        List<Integer> ran = new CopyOnWriteArrayList<>();
        srcu.callSrcu(() -> ran.add(1));
        srcu.callSrcu(() -> ran.add(2));
        assertThatThrownBy(srcu::close).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("2 callback(s) pending").hasMessageContaining("barrier()");
        srcu.upRead(idx);
        srcu.barrier();
        assertThat(ran).containsExactly(1, 2);
        srcu.close();
    }

    @Test
    void closedDomain_refusesEveryOperation_andCloseIsIdempotent() {
        Srcu srcu = new Srcu("closed");
        srcu.close();
        srcu.close();
        assertThatThrownBy(srcu::readLock).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(srcu::downRead).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(srcu::synchronize).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(srcu::synchronizeExpedited).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(srcu::barrier).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> srcu.callSrcu(() -> { })).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("callSrcu()");
        assertThat(srcu.readLockHeld()).isFalse();
    }

    @Test
    void barrierOrCloseFromACallback_throws_andIsReportedToTheHandler() {
        List<Throwable> reported = new CopyOnWriteArrayList<>();
        Srcu[] self = new Srcu[1];
        try (Srcu srcu = Srcu.builder("barrier-in-callback").callbackErrorHandler(reported::add).build()) {
            self[0] = srcu;
            srcu.callSrcu(() -> self[0].barrier());
            srcu.callSrcu(() -> self[0].close());
            srcu.barrier();
        }
        assertThat(reported).hasSize(2);
        assertThat(reported.get(0)).isInstanceOf(IllegalStateException.class).hasMessageContaining("deadlock");
        assertThat(reported.get(1)).isInstanceOf(IllegalStateException.class).hasMessageContaining("close()");
    }

    @Test
    void nullArguments_failWithAMessage() {
        assertThatNullPointerException().isThrownBy(() -> new Srcu(null)).withMessageContaining("name");
        assertThatNullPointerException().isThrownBy(() -> new Srcu("x", null))
                .withMessageContaining("callbackExecutor");
        assertThatNullPointerException().isThrownBy(() -> Srcu.builder("x").callbackErrorHandler(null))
                .withMessageContaining("callbackErrorHandler");
        try (Srcu srcu = new Srcu("null-callback")) {
            assertThatNullPointerException().isThrownBy(() -> srcu.callSrcu(null)).withMessageContaining("callback");
            assertThat(srcu.pendingCallbacks()).isZero();
        }
    }
}
