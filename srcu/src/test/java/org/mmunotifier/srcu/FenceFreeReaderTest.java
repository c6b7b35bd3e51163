package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The fence-free reader: where it is chosen, how it is refused, where the updater issues its
 * heavy barrier, and that it waits for its readers.
 */
class FenceFreeReaderTest {

    @Test
    void asked_whereUnavailable_isRefusedWithTheReason() {
        String blocker = FenceFreeSupport.blocker();
        assumeTrue(blocker != null, "the fence-free reader is available here");
        assertThatThrownBy(() -> Srcu.builder("refused").readerFlavour(ReaderFlavour.FENCE_FREE).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("reader flavour FENCE_FREE requested by the builder is not available here: "
                        + blocker);
    }

    @Test
    void asked_whereAvailable_runsIt() {
        assumeTrue(BrokenCounters.fenceFreeAvailable(), "needs membarrier: JDK 22+ on Linux");
        try (Srcu srcu = Srcu.builder("asked").readerFlavour(ReaderFlavour.FENCE_FREE).build()) {
            assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.FENCE_FREE);
            assertThat(srcu.reader().flavour()).isEqualTo(ReaderFlavour.FENCE_FREE);
            int idx = srcu.readLock();
            assertThat(srcu.activeReaders()).isEqualTo(1);
            srcu.readUnlock(idx);
            srcu.synchronize();
            srcu.synchronizeExpedited();
        }
    }

    /** Where it is available, the default's reason names the VM, its version and the membarrier. */
    @Test
    void whereAvailable_theDefaultsReason_namesWhatMadeItAvailable() {
        assumeTrue(BrokenCounters.fenceFreeAvailable(), "needs membarrier: JDK 22+ on Linux");
        try (Srcu srcu = new Srcu("default-reason")) {
            assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.FENCE_FREE);
            assertThat(srcu.flavour().reason()).isEqualTo("the default where available, and it is: "
                    + System.getProperty("java.vm.name") + " " + Runtime.version() + ", no JVMCI compiler, "
                    + "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) registered; readers count in with an opaque "
                    + "store, and each scan of the updater issues the membarrier");
        }
    }

    @Test
    void beforeJdk22_theDefaultIsOneFence_andSaysWhy() {
        assumeTrue(Runtime.version().feature() < 22);
        try (Srcu srcu = new Srcu("old-jdk")) {
            assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.ONE_FENCE);
            assertThat(srcu.flavour().reason()).contains("not available here").contains("needs JDK 22");
        }
    }

    @Test
    void systemProperty_setsTheFlavourOfDomainsThatNameNone_andABadValueIsRefused() {
        String old = System.getProperty(Srcu.FLAVOUR_PROPERTY);
        try {
            System.setProperty(Srcu.FLAVOUR_PROPERTY, "TWO_RMW");
            try (Srcu srcu = new Srcu("by-property")) {
                assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.TWO_RMW);
                assertThat(srcu.flavour().reason()).contains("system property " + Srcu.FLAVOUR_PROPERTY);
            }
            try (Srcu srcu = Srcu.builder("builder-wins").readerFlavour(ReaderFlavour.ONE_FENCE).build()) {
                assertThat(srcu.flavour().flavour()).as("the builder's choice wins").isEqualTo(ReaderFlavour.ONE_FENCE);
            }
            System.setProperty(Srcu.FLAVOUR_PROPERTY, "FAST");
            assertThatThrownBy(() -> new Srcu("bad-property")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(Srcu.FLAVOUR_PROPERTY + "=FAST names no reader flavour")
                    .hasMessageContaining("FENCE_FREE");
        } finally {
            if (old == null) {
                System.clearProperty(Srcu.FLAVOUR_PROPERTY);
            } else {
                System.setProperty(Srcu.FLAVOUR_PROPERTY, old);
            }
        }
    }

    /** Every scan issues the heavy barrier before it reads the counters: two per idle grace period. */
    @Test
    void everyScan_issuesTheHeavyBarrier_twicePerIdleGracePeriod() {
        AtomicInteger barriers = new AtomicInteger();
        try (Srcu srcu = Srcu.builder("counted").fenceFreeWithBarrier(barriers::incrementAndGet).build()) {
            assertThat(srcu.flavour().flavour()).isEqualTo(ReaderFlavour.FENCE_FREE);
            int idx = srcu.readLock(); // no barrier on the read side
            srcu.readUnlock(idx);
            assertThat(barriers).hasValue(0);
            srcu.synchronize();
            assertThat(barriers).as("one per scan: the stragglers' index, then the flipped one").hasValue(2);
            srcu.synchronizeExpedited();
            assertThat(barriers).hasValue(4);
        }
    }

    /** A scan that finds a reader inside issues the barrier again before each retry. */
    @Test
    void aRetriedScan_issuesTheBarrierAgain_andTheGracePeriodWaitsForTheReader() throws Exception {
        AtomicInteger barriers = new AtomicInteger();
        try (Srcu srcu = Srcu.builder("retried").fenceFreeWithBarrier(barriers::incrementAndGet).build()) {
            HeldReadSection reader = HeldReadSection.readLock("fence-free-reader", srcu);
            Thread updater = new Thread(srcu::synchronize, "updater");
            updater.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (barriers.get() < 5) {
                assertThat(System.nanoTime()).as("the updater keeps scanning").isLessThan(deadline);
                Thread.onSpinWait();
            }
            assertThat(updater.isAlive()).as("synchronize waits for the reader inside").isTrue();
            reader.close();
            updater.join(10_000);
            assertThat(updater.isAlive()).isFalse();
        }
    }
}
