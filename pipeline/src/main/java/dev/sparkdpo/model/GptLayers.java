package dev.sparkdpo.model;

import java.util.List;

/**
 * A GPT-2's layers over one parameter vector (and, for a backward, one gradient vector): embeddings, blocks, ln_f and
 * the lm_head tied to wte. Built by {@link GptWeights#layers}.
 */
record GptLayers(GptEmbedding embedding, List<GptBlock> blocks, LayerNorm lnF, LmHead lmHead) {}
