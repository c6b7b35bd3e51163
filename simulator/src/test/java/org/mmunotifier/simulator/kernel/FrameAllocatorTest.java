package org.mmunotifier.simulator.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class FrameAllocatorTest {

    @Test
    void allocate_mapsOnceAndBumpsGeneration() {
        FrameAllocator fa = new FrameAllocator(4);
        int f = fa.allocate();
        assertThat(fa.mapCount(f)).isEqualTo(1);
        assertThat(fa.generation(f)).isEqualTo(1);
        assertThat(fa.freeFrames()).isEqualTo(3);
    }

    @Test
    void frame_isReusedOnlyAfterEveryMappingIsGone_andReuseChangesGeneration() {
        FrameAllocator fa = new FrameAllocator(1);
        int f = fa.allocate();
        int gen = fa.generation(f);
        fa.get(f); // shared by fork
        assertThat(fa.put(f)).isFalse();
        assertThat(fa.allocate()).as("still mapped once: not free").isEqualTo(-1);
        assertThat(fa.put(f)).isTrue();
        int again = fa.allocate();
        assertThat(again).isEqualTo(f);
        assertThat(fa.generation(again)).isEqualTo(gen + 1);
    }

    @Test
    void allocate_whenExhausted_returnsMinusOne() {
        FrameAllocator fa = new FrameAllocator(2);
        fa.allocate();
        fa.allocate();
        assertThat(fa.allocate()).isEqualTo(-1);
    }

    @Test
    void put_ofFreeFrame_throwsAndChangesNothing() {
        FrameAllocator fa = new FrameAllocator(2);
        int f = fa.allocate();
        fa.put(f);
        assertThatThrownBy(() -> fa.put(f)).isInstanceOf(IllegalStateException.class).hasMessageContaining("free frame");
        assertThat(fa.freeFrames()).isEqualTo(2);
    }

    @Test
    void get_ofFreeFrame_throws() {
        FrameAllocator fa = new FrameAllocator(2);
        assertThatThrownBy(() -> fa.get(0)).isInstanceOf(IllegalStateException.class);
    }

    /** Random allocate/get/put sequences against a map-count model. */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 42, 1234})
    void randomSequence_matchesModel(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        FrameAllocator fa = new FrameAllocator(16);
        Map<Integer, Integer> model = new HashMap<>();
        Map<Integer, Integer> gens = new HashMap<>();
        List<Integer> mapped = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            int op = rng.nextInt(3);
            if (op == 0 || mapped.isEmpty()) {
                int f = fa.allocate();
                if (model.size() == 16) {
                    assertThat(f).as("seed %d step %d", seed, i).isEqualTo(-1);
                    continue;
                }
                assertThat(model).as("seed %d step %d: frame handed out twice", seed, i).doesNotContainKey(f);
                assertThat(fa.generation(f)).as("seed %d", seed).isEqualTo(gens.getOrDefault(f, 0) + 1);
                gens.put(f, fa.generation(f));
                model.put(f, 1);
                mapped.add(f);
            } else if (op == 1) {
                int f = mapped.get(rng.nextInt(mapped.size()));
                fa.get(f);
                model.merge(f, 1, Integer::sum);
            } else {
                int f = mapped.get(rng.nextInt(mapped.size()));
                int left = model.merge(f, -1, Integer::sum);
                assertThat(fa.put(f)).as("seed %d step %d", seed, i).isEqualTo(left == 0);
                if (left == 0) {
                    model.remove(f);
                    mapped.remove(Integer.valueOf(f));
                }
            }
            assertThat(fa.freeFrames()).as("seed %d step %d", seed, i).isEqualTo(16 - model.size());
        }
    }

    @Test
    void tryGet_addsAMappingOnlyToTheSameLiveGeneration() {
        FrameAllocator fa = new FrameAllocator(1);
        int f = fa.allocate();
        int gen = fa.generation(f);
        assertThat(fa.tryGet(f, gen)).isTrue();
        assertThat(fa.mapCount(f)).isEqualTo(2);
        assertThat(fa.tryGet(f, gen - 1)).as("an older generation").isFalse();
        assertThat(fa.mapCount(f)).as("unchanged by the refusal").isEqualTo(2);
        fa.put(f);
        fa.put(f);
        assertThat(fa.tryGet(f, gen)).as("a free frame").isFalse();
        assertThat(fa.allocate()).isEqualTo(f);
        assertThat(fa.tryGet(f, gen)).as("freed and reused").isFalse();
        assertThat(fa.mapCount(f)).isEqualTo(1);
        assertThat(fa.freeFrames()).isZero();
    }
}
