package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Behaviour 9 in docs/srcu.md: a thread's reader handle ({@link Srcu#reader()}) enters and
 * leaves the same read sections as {@code readLock}/{@code readUnlock}, carries its thread's
 * execution context, and refuses to be used by any other thread, changing nothing.
 */
class SrcuReaderHandleTest {

    @Test
    void reader_isOnePerThread_andCarriesThatThreadsContext() throws Exception {
        try (Srcu srcu = new Srcu("handle-identity")) {
            Srcu.Reader mine = srcu.reader();
            assertThat(srcu.reader()).isSameAs(mine);
            assertThat(mine.context()).isSameAs(ExecutionContext.current());
            assertThat(mine.domain()).isSameAs(srcu);
            Srcu.Reader theirs = CompletableFuture.supplyAsync(() -> {
                Srcu.Reader r = srcu.reader();
                assertThat(r.context()).isSameAs(ExecutionContext.current());
                return r;
            }).get(10, TimeUnit.SECONDS);
            assertThat(theirs).isNotSameAs(mine);
            assertThat(theirs.context()).isNotSameAs(mine.context());
        }
    }

    @Test
    void handleSections_areReadSections_mixableWithReadLock() {
        try (Srcu srcu = new Srcu("handle-mix")) {
            Srcu.Reader r = srcu.reader();
            int a = r.lock();
            assertThat(srcu.readLockHeld()).isTrue();
            assertThat(srcu.activeReaders()).isEqualTo(1);
            int b = srcu.readLock(); // nests with the handle's section
            r.unlock(b);             // and either form closes either
            srcu.readUnlock(a);
            assertThat(srcu.readLockHeld()).isFalse();
            assertThat(srcu.activeReaders()).isZero();
            assertThatThrownBy(() -> r.unlock(a)).as("double unlock").isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("holds no read section");
            assertThatThrownBy(() -> r.unlock(2)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("0 or 1");
            assertThat(srcu.activeReaders()).isZero();
        }
    }

    @Test
    void handleLock_returnsTheCurrentIndex_afterAFlipToo() {
        try (Srcu srcu = new Srcu("handle-index")) {
            Srcu.Reader r = srcu.reader();
            for (int flips = 0; flips < 2; flips++) {
                int viaHandle = r.lock();
                int viaDomain = srcu.readLock();
                assertThat(viaHandle).as("after %d grace periods", flips).isEqualTo(viaDomain).isEqualTo(flips & 1);
                srcu.readUnlock(viaDomain);
                r.unlock(viaHandle);
                srcu.synchronize(); // one grace period flips the index new readers count on
            }
            assertThat(r).hasToString("Srcu.Reader[domain=handle-index, thread=" + Thread.currentThread().getName()
                    + ", sections=0]");
            int idx = r.lock();
            assertThat(idx).isZero();
            assertThat(r.toString()).endsWith("sections=1]");
            r.unlock(idx);
            srcu.synchronize(); // the next section counts on index 1
            int one = r.lock();
            assertThat(one).isEqualTo(1);
            assertThat(r.toString()).as("a section on index 1 counts too").endsWith("sections=1]");
            r.unlock(one);
        }
    }

    @Test
    void synchronize_waitsForAHandleSection() throws Exception {
        try (Srcu srcu = new Srcu("handle-gp")) {
            HeldReadSection reader = HeldReadSection.handle("handle-reader", srcu);
            CompletableFuture<Void> sync = CompletableFuture.runAsync(srcu::synchronize);
            Thread.sleep(50);
            assertThat(sync).as("synchronize while a handle section is open").isNotDone();
            reader.close();
            sync.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void handleUsedOnAnotherThread_throwsNamingBothThreads_andNothingChanges() throws Exception {
        try (Srcu srcu = new Srcu("handle-foreign")) {
            Srcu.Reader mine = srcu.reader();
            int idx = mine.lock();
            AtomicReference<Throwable> onLock = new AtomicReference<>();
            AtomicReference<Throwable> onUnlock = new AtomicReference<>();
            Thread other = new Thread(() -> {
                try {
                    mine.lock();
                } catch (Throwable t) {
                    onLock.set(t);
                }
                try {
                    mine.unlock(idx);
                } catch (Throwable t) {
                    onUnlock.set(t);
                }
            }, "foreign-thread");
            other.start();
            other.join(10_000);
            String owner = Thread.currentThread().getName();
            assertThat(onLock.get()).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("Srcu.Reader.lock()").hasMessageContaining("'foreign-thread'")
                    .hasMessageContaining("'" + owner + "'");
            assertThat(onUnlock.get()).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("Srcu.Reader.unlock()");
            assertThat(srcu.activeReaders()).as("neither counted in nor out").isEqualTo(1);
            assertThat(srcu.readLockHeld()).isTrue();
            mine.unlock(idx);
            assertThat(srcu.activeReaders()).isZero();
            srcu.synchronize(); // the domain still works
        }
    }

    @Test
    void handleOfAClosedDomain_refusesLock() {
        Srcu srcu = new Srcu("handle-closed");
        Srcu.Reader r = srcu.reader();
        srcu.close();
        assertThatThrownBy(r::lock).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed")
                .hasMessageContaining("handle-closed");
        assertThat(srcu.activeReaders()).isZero();
    }
}
