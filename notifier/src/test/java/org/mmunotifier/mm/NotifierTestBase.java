package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;

/**
 * Invariants checked after every test: the shared SRCU domain has no open read section and no
 * pending callback after {@link MmuNotifier#synchronize()}, and no tracked notifier saw a
 * callback after its free or was freed twice.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class NotifierTestBase {
    private final List<Recorder> tracked = new ArrayList<>();

    <R extends Recorder> R track(R r) {
        synchronized (tracked) {
            tracked.add(r);
        }
        return r;
    }

    @AfterEach
    void checkInvariants() {
        MmuNotifier.usersLimit = Integer.MAX_VALUE;
        MmuNotifier.synchronize();
        assertThat(NotifierDomain.SRCU.activeReaders()).as("open SRCU read sections").isZero();
        assertThat(NotifierDomain.SRCU.pendingCallbacks()).as("pending deferred frees").isZero();
        synchronized (tracked) {
            for (Recorder r : tracked) {
                assertThat(r.violationsSnapshot()).as("violations of " + r).isEmpty();
                assertThat(r.frees.get()).as("frees of " + r).isLessThanOrEqualTo(1);
            }
        }
        NotifierDomain.Context c = NotifierDomain.CONTEXT.get();
        assertThat(c.nonBlock).isZero();
        assertThat(c.inFree).isZero();
    }

    static MmuNotifierRange range(MmStruct mm) {
        return new MmuNotifierRange(mm, 0x1000, 0x2000, MmuNotifierEvent.UNMAP, true);
    }

    /** Starts a thread; failures of the body are rethrown by join. */
    static final class Worker extends Thread {
        private final ThrowingRunnable body;
        private volatile Throwable failure;

        Worker(String name, ThrowingRunnable body) {
            super(name);
            this.body = body;
            setDaemon(true);
            start();
        }

        @Override
        public void run() {
            try {
                body.run();
            } catch (Throwable t) {
                failure = t;
            }
        }

        void joinChecked() throws Exception {
            join(TimeUnit.SECONDS.toMillis(30));
            if (isAlive()) {
                throw new AssertionError(getName() + " did not finish");
            }
            if (failure instanceof Exception) {
                throw (Exception) failure;
            }
            if (failure instanceof Error) {
                throw (Error) failure;
            }
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }
}
