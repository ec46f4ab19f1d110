package dev.sparkdpo.jobs.pipeline;

/**
 * One stage of {@code spark-dpo pipeline}: the extension point. A new stage is one class implementing this plus one
 * line in {@link Pipeline#STAGES}. A stage reads its block through {@link PipelineContext#settings}, which fills in the
 * paths the pipeline wires (its output under the run root, the outputs of earlier stages), and calls the stage's own
 * entry point, which skips when its complete output was made from the same inputs and settings.
 */
public interface PipelineStage {
  /** The stage's name: its directory under the run root and what --from / --to name. */
  String name();

  /** Whether this run includes the stage (e.g. demo data only when the config has a demo block). */
  default boolean enabled(PipelineContext context) {
    return true;
  }

  /** Runs (or skips) the stage; {@code context.forced(name())} asks for a rerun even when it is up to date. */
  StageResult run(PipelineContext context) throws Exception;

  /**
   * What a stage did: {@code skipped} when its output was complete and up to date; {@code output} its directory;
   * {@code fingerprint} the one recorded in the output's manifest (inputs + settings); {@code note} anything worth a
   * line in pipeline.json (null if none).
   */
  record StageResult(boolean skipped, String output, String fingerprint, String note) {
    public static StageResult of(boolean skipped, String output, String fingerprint) {
      return new StageResult(skipped, output, fingerprint, null);
    }
  }
}
