package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class AdamWTest {
  private static final double B1 = 0.9, B2 = 0.999, EPS = 1e-8, WD = 0.1, LR = 1e-2;

  /** Name -> shape: decayed matrices, a bias and layer-norm weight/bias (not decayed). */
  private static Map<String, long[]> shapes() {
    Map<String, long[]> s = new LinkedHashMap<>();
    s.put("transformer.wte.weight", new long[] {7, 5});
    s.put("transformer.h.0.attn.c_attn.weight", new long[] {5, 15});
    s.put("transformer.h.0.attn.c_attn.bias", new long[] {15});
    s.put("transformer.h.0.ln_1.weight", new long[] {5});
    s.put("transformer.ln_f.bias", new long[] {5});
    return s;
  }

  private static float[] random(Random r, long n, double std) {
    float[] a = new float[(int) n];
    for (int i = 0; i < a.length; i++) a[i] = (float) (std * r.nextGaussian());
    return a;
  }

  /** eps 0.1 as well as torch's 1e-8: where epsilon enters (after the bias correction, as torch) must show. */
  @ParameterizedTest
  @ValueSource(doubles = {EPS, 0.1})
  void threeStepsMatchADoublePrecisionReference(double eps) {
    Random r = new Random(3);
    Map<String, INDArray> params = new LinkedHashMap<>();
    Map<String, double[]> refP = new LinkedHashMap<>(), refM = new LinkedHashMap<>(), refV = new LinkedHashMap<>();
    shapes().forEach((name, shape) -> {
      float[] p = random(r, Tensor.numel(shape), 1.0);
      params.put(name, Nd4j.create(p.clone(), shape, 'c'));
      double[] d = new double[p.length];
      for (int i = 0; i < p.length; i++) d[i] = p[i];
      refP.put(name, d);
      refM.put(name, new double[p.length]);
      refV.put(name, new double[p.length]);
    });

    AdamW opt = new AdamW(B1, B2, eps, WD);
    for (int t = 1; t <= 3; t++) {
      // step 2 passes INDArray gradients, the others Tensors
      Map<String, Object> grads = new LinkedHashMap<>();
      Map<String, float[]> raw = new LinkedHashMap<>();
      for (Map.Entry<String, long[]> e : shapes().entrySet()) {
        float[] g = random(r, Tensor.numel(e.getValue()), 0.5);
        raw.put(e.getKey(), g);
        grads.put(e.getKey(), t == 2 ? Nd4j.create(g.clone(), e.getValue(), 'c') : new Tensor(e.getValue(), g.clone()));
      }
      opt.step(params, grads, LR);

      for (String name : shapes().keySet()) {
        double wd = AdamW.decays(name) ? WD : 0;
        double[] p = refP.get(name), m = refM.get(name), v = refV.get(name);
        float[] g = raw.get(name);
        for (int i = 0; i < p.length; i++) {
          m[i] = B1 * m[i] + (1 - B1) * g[i];
          v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
          double mHat = m[i] / (1 - Math.pow(B1, t)), vHat = v[i] / (1 - Math.pow(B2, t));
          p[i] -= LR * (mHat / (Math.sqrt(vHat) + eps) + wd * p[i]);
        }
      }
    }

    assertEquals(3, opt.steps());
    Map<String, Tensor> state = opt.state();
    for (String name : shapes().keySet()) {
      assertClose(refP.get(name), params.get(name).dup('c').reshape(-1).toFloatVector(), name);
      assertClose(refM.get(name), state.get(name + AdamW.EXP_AVG).data(), name + AdamW.EXP_AVG);
      assertClose(refV.get(name), state.get(name + AdamW.EXP_AVG_SQ).data(), name + AdamW.EXP_AVG_SQ);
    }
  }

  /** Relative error <= 1e-6, measured against max(|expected|, 0.1) so values near 0 are compared absolutely. */
  private static void assertClose(double[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) {
      double tol = 1e-6 * Math.max(Math.abs(expected[i]), 0.1);
      assertEquals(expected[i], actual[i], tol, what + "[" + i + "]");
    }
  }

  @Test
  void noDecayForBiasesAndLayerNorms() {
    assertTrue(AdamW.decays("transformer.wte.weight"));
    assertTrue(AdamW.decays("transformer.h.3.mlp.c_proj.weight"));
    assertFalse(AdamW.decays("transformer.h.3.mlp.c_proj.bias"));
    assertFalse(AdamW.decays("transformer.h.0.ln_1.weight"));
    assertFalse(AdamW.decays("transformer.ln_f.weight"));

    // zero gradients: the Adam term is 0, so only decayed parameters move, by the factor (1 - lr * wd)
    Map<String, INDArray> params = new LinkedHashMap<>();
    Map<String, Tensor> grads = new LinkedHashMap<>();
    shapes().forEach((name, shape) -> {
      params.put(name, Nd4j.ones(DataType.FLOAT, shape));
      grads.put(name, Tensor.zeros(shape));
    });
    new AdamW(B1, B2, EPS, WD).step(params, grads, LR);
    params.forEach((name, p) -> {
      float expected = AdamW.decays(name) ? (float) (1 - LR * WD) : 1f;
      for (float x : p.dup('c').reshape(-1).toFloatVector()) assertEquals(expected, x, 1e-7, name);
    });
  }

  @Test
  void stateRestoresAndStepsOnIdentically() {
    Random r = new Random(5);
    Map<String, long[]> shapes = shapes();
    Map<String, INDArray> a = new LinkedHashMap<>();
    Map<String, Tensor> g1 = new LinkedHashMap<>(), g2 = new LinkedHashMap<>();
    shapes.forEach((name, shape) -> {
      a.put(name, Nd4j.create(random(r, Tensor.numel(shape), 1.0), shape, 'c'));
      g1.put(name, new Tensor(shape, random(r, Tensor.numel(shape), 1.0)));
      g2.put(name, new Tensor(shape, random(r, Tensor.numel(shape), 1.0)));
    });

    AdamW first = AdamW.defaults();
    first.step(a, g1, LR);
    Map<String, INDArray> b = new LinkedHashMap<>();
    a.forEach((name, p) -> b.put(name, p.dup()));
    AdamW restored = first.restore(first.state(), first.steps());
    assertEquals(1, restored.steps());
    assertEquals(first.state(), restored.state());

    first.step(a, g2, LR);
    restored.step(b, g2, LR);
    assertEquals(first.state(), restored.state());
    a.forEach((name, p) -> assertEquals(p, b.get(name), name));
  }

  @Test
  void rejectsMissingOrUnknownGradients() {
    Map<String, INDArray> params = new LinkedHashMap<>();
    params.put("w.weight", Nd4j.zeros(DataType.FLOAT, 2, 2));
    AdamW opt = AdamW.defaults();
    assertThrows(IllegalArgumentException.class, () -> opt.step(params, Map.of(), LR));
    assertThrows(IllegalArgumentException.class,
        () -> opt.step(params, Map.of("w.weight", Tensor.zeros(2, 2), "x.bias", Tensor.zeros(2)), LR));
    assertThrows(IllegalArgumentException.class, () -> opt.step(params, Map.of("w.weight", Tensor.zeros(4)), LR));
    assertEquals(0, opt.steps());
  }
}
