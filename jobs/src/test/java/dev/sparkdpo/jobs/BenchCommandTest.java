package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import java.util.List;
import org.junit.jupiter.api.Test;

/** bench model's LoRA settings are torch_dpo_bench.py --lora's, so the two benches time the same adapters. */
class BenchCommandTest {
  @Test
  void benchLoraDefaultsAreTheTorchBenchsAdaptersOnEveryLinear() {
    LoraConfig lora = BenchCommand.ModelBench.loraConfig(8, null, null);
    assertEquals(new LoraConfig(8, 16, 0, List.of("c_attn", "c_proj", "c_fc")), lora, "alpha 2r, every linear");
    // the torch bench's tiny model (d 256, 4 layers): r (in + out) per Linear of qkv, proj, fc, out per block
    GptConfig tiny = new GptConfig(4096, 256, 256, 4, 4, 1e-5);
    long perBlock = 8L * ((256 + 768) + (256 + 256) + (256 + 1024) + (1024 + 256));
    assertEquals(4 * perBlock, LoraParams.count(tiny, lora));
    assertEquals(new LoraConfig(4, 4, 0, List.of("c_attn")), BenchCommand.ModelBench.loraConfig(4, 4.0,
        List.of("c_attn")));
    assertNull(BenchCommand.ModelBench.loraConfig(0, null, null), "rank 0: full fine-tuning");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BenchCommand.ModelBench.loraConfig(0, 4.0, null));
    assertEquals("--lora-alpha and --lora-targets need --lora-rank R > 0: add it, or drop them", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> BenchCommand.ModelBench.loraConfig(-1, null, null));
  }
}
