package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Behaviour 15 in docs/srcu.md: a domain that nobody holds any more can be garbage collected,
 * although the threads that read it live on. Each reading thread keeps its {@link Srcu.Reader}
 * as the value of the domain's {@code ThreadLocal}; a Reader that reached the domain (and through
 * it that {@code ThreadLocal}, the entry's own key) would keep the domain for as long as the
 * thread lives. These tests read domains on the test thread, which outlives them, drop them, and
 * wait for the collector to clear weak references to them.
 */
class SrcuReachabilityTest {

    /** Enough full collections to clear weak references whose referents are unreachable. */
    private static final int GC_TRIES = 50;

    @ParameterizedTest(name = "{0}")
    @EnumSource(ReaderFlavour.class)
    void droppedDomains_readOnALiveThread_areCollected(ReaderFlavour flavour) throws InterruptedException {
        List<WeakReference<Srcu>> refs = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            refs.add(new WeakReference<>(readOnce(builder("dropped-" + i, flavour).build())));
        }
        assertThat(collected(refs)).as("domains read by this (still running) thread, then dropped, collected")
                .isEqualTo(refs.size());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(ReaderFlavour.class)
    void closedDomain_thatRanCallbacks_isCollected(ReaderFlavour flavour) throws InterruptedException {
        Srcu srcu = builder("callbacks-then-closed", flavour).build();
        readOnce(srcu);
        srcu.callSrcu(() -> { });
        srcu.barrier();
        srcu.close(); // stops the callback thread, which held the domain while it ran
        List<WeakReference<Srcu>> refs = List.of(new WeakReference<>(srcu));
        srcu = null;
        assertThat(collected(refs)).as("a closed domain whose callback thread has stopped").isEqualTo(1);
    }

    /** A handle outliving its domain says so instead of handing back a domain it cannot reach. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(ReaderFlavour.class)
    void handle_outlivingItsDomain_refusesDomain(ReaderFlavour flavour) throws InterruptedException {
        Srcu srcu = builder("outlived", flavour).build();
        Srcu.Reader handle = srcu.reader();
        assertThat(handle.domain()).isSameAs(srcu);
        int idx = handle.lock();
        handle.unlock(idx);
        List<WeakReference<Srcu>> refs = List.of(new WeakReference<>(srcu));
        srcu = null;
        assertThat(collected(refs)).as("the handle does not keep its domain").isEqualTo(1);
        assertThatThrownBy(handle::domain).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("'outlived'").hasMessageContaining("no longer reachable");
    }

    /** A builder of {@code flavour}; FENCE_FREE only where it runs (Linux, JDK 22+, membarrier). */
    private static Srcu.Builder builder(String name, ReaderFlavour flavour) {
        assumeTrue(flavour != ReaderFlavour.FENCE_FREE || FenceFreeSupport.blocker() == null,
                () -> "the fence-free reader is not available here: " + FenceFreeSupport.blocker());
        return Srcu.builder(name).readerFlavour(flavour);
    }

    /** Enters and leaves one read section on the calling thread, so that it holds a Reader of it. */
    private static Srcu readOnce(Srcu srcu) {
        int idx = srcu.readLock();
        srcu.readUnlock(idx);
        return srcu;
    }

    /** Runs full collections until every reference is cleared or the tries run out. */
    private static int collected(List<WeakReference<Srcu>> refs) throws InterruptedException {
        for (int i = 0; i < GC_TRIES && !refs.stream().allMatch(r -> r.get() == null); i++) {
            System.gc();
            TimeUnit.MILLISECONDS.sleep(20);
        }
        return (int) refs.stream().filter(r -> r.get() == null).count();
    }
}
