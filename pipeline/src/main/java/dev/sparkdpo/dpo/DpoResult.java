package dev.sparkdpo.dpo;

import java.util.Map;

/**
 * What {@link DpoLoss#compute} returns: the mean loss over the batch, the per-pair (weighted, summed over loss types)
 * losses, d(mean loss)/d(policyChosen[i]) and d(mean loss)/d(policyRejected[i]), the implicit rewards
 * beta * (policy - reference), and TRL's metric values ({@code rewards/chosen}, {@code rewards/rejected},
 * {@code rewards/accuracies}, {@code rewards/margins}, {@code logps/chosen}, {@code logps/rejected}, {@code loss}).
 */
public record DpoResult(double loss, double[] perPairLoss, double[] dPolicyChosen, double[] dPolicyRejected,
    double[] chosenRewards, double[] rejectedRewards, Map<String, Double> metrics) {}
