package dev.sparkdpo.data.formats;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PreferencePair;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import dev.sparkdpo.data.read.Json;
import java.util.List;
import org.junit.jupiter.api.Test;

class InputFormatTest {
  static JsonNode json(String s) {
    try {
      return Json.MAPPER.readTree(s.replace('\'', '"'));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  static List<PreferencePair> pairs(InputFormat f, String record) {
    return f.pairs(json(record), FormatOptions.DEFAULTS);
  }

  static QuarantineReason reason(InputFormat f, String record, FormatOptions o) {
    RecordException e = assertThrows(RecordException.class, () -> f.pairs(json(record), o));
    assertFalse(e.getMessage().isBlank());
    return e.reason();
  }

  static QuarantineReason reason(InputFormat f, String record) {
    return reason(f, record, FormatOptions.DEFAULTS);
  }

  @Test
  void detectsEachLayoutFromItsFields() {
    assertEquals(InputFormat.FLAT, InputFormat.detect(json("{'prompt':'p','chosen':'a','rejected':'b'}")));
    assertEquals(InputFormat.HH, InputFormat.detect(json("{'chosen':'a','rejected':'b'}")));
    assertEquals(InputFormat.MESSAGES, InputFormat.detect(json("{'prompt':'p','chosen':[],'rejected':[]}")));
    assertEquals(InputFormat.RANKED, InputFormat.detect(json("{'prompt':'p','completions':[]}")));
    assertEquals(InputFormat.RANKED, InputFormat.detect(json("{'history':'p','human_ref_A':'a','human_ref_B':'b'}")));
    assertNull(InputFormat.detect(json("{'question':'p','answer':'a'}")));
  }

  @Test
  void parsesFormatNames() {
    assertNull(InputFormat.parseOrAuto("auto"));
    assertEquals(InputFormat.HH, InputFormat.parseOrAuto("HH"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InputFormat.parseOrAuto("tsv"));
    assertTrue(e.getMessage().contains("flat"), e.getMessage());
  }

  @Test
  void flatTakesTheThreeStrings() {
    assertEquals(List.of(new PreferencePair("Q?", " yes", " no")),
        pairs(InputFormat.FLAT, "{'prompt':'Q?','chosen':' yes','rejected':' no','extra':1}"));
    assertEquals(QuarantineReason.MISSING_FIELD, reason(InputFormat.FLAT, "{'prompt':'Q','chosen':'a'}"));
    assertEquals(QuarantineReason.WRONG_TYPE, reason(InputFormat.FLAT, "{'prompt':'Q','chosen':'a','rejected':3}"));
    assertEquals(QuarantineReason.WRONG_TYPE, reason(InputFormat.FLAT, "{'prompt':null,'chosen':'a','rejected':'b'}"));
  }

  @Test
  void hhSplitsAtTheLastAssistantTurnOfChosen() {
    String chosen = "\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: 2+2?\\n\\nAssistant: 4";
    String rejected = "\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: 2+2?\\n\\nAssistant: 5, I think";
    List<PreferencePair> p = pairs(InputFormat.HH, "{'chosen':'" + chosen + "','rejected':'" + rejected + "'}");
    assertEquals("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: 2+2?\n\nAssistant:", p.get(0).prompt());
    assertEquals(" 4", p.get(0).chosen());
    assertEquals(" 5, I think", p.get(0).rejected());
  }

  @Test
  void hhQuarantinesTranscriptsThatDoNotShareThePrompt() {
    assertEquals(QuarantineReason.HH_PREFIX_MISMATCH, reason(InputFormat.HH,
        "{'chosen':'\\n\\nHuman: a\\n\\nAssistant: x','rejected':'\\n\\nHuman: b\\n\\nAssistant: y'}"));
    assertEquals(QuarantineReason.HH_NO_ASSISTANT_TURN, reason(InputFormat.HH, "{'chosen':'just text','rejected':'other'}"));
  }

  @Test
  void messagesWithExplicitPrompt() {
    List<PreferencePair> p = pairs(InputFormat.MESSAGES, "{'prompt':[{'role':'system','content':'Be brief.'},"
        + "{'role':'user','content':'Capital of France?'}],"
        + "'chosen':[{'role':'assistant','content':'Paris.'}],'rejected':[{'role':'assistant','content':'Lyon.'}]}");
    assertEquals("\n\nSystem: Be brief.\n\nHuman: Capital of France?\n\nAssistant:", p.get(0).prompt());
    assertEquals(" Paris.", p.get(0).chosen());
    assertEquals(" Lyon.", p.get(0).rejected());
  }

  @Test
  void messagesWithImplicitPromptUltraFeedbackStyle() {
    List<PreferencePair> p = pairs(InputFormat.MESSAGES, "{'prompt':'2+2?',"
        + "'chosen':[{'role':'user','content':'2+2?'},{'role':'assistant','content':'4'}],"
        + "'rejected':[{'role':'user','content':'2+2?'},{'role':'assistant','content':[{'type':'text','text':'5'}]}]}");
    assertEquals(new PreferencePair("\n\nHuman: 2+2?\n\nAssistant:", " 4", " 5"), p.get(0));
  }

  @Test
  void messagesWithAStringPromptAndNoSharedTurns() {
    List<PreferencePair> p = pairs(InputFormat.MESSAGES, "{'prompt':'Hi',"
        + "'chosen':[{'role':'assistant','content':'Hello!'}],'rejected':[{'role':'assistant','content':'Go away.'}]}");
    assertEquals(new PreferencePair("\n\nHuman: Hi\n\nAssistant:", " Hello!", " Go away."), p.get(0));
  }

  @Test
  void messagesQuarantinesMalformedLists() {
    assertEquals(QuarantineReason.INVALID_MESSAGES, reason(InputFormat.MESSAGES,
        "{'prompt':'Hi','chosen':[{'content':'x'}],'rejected':[{'role':'assistant','content':'y'}]}"));
    assertEquals(QuarantineReason.INVALID_MESSAGES, reason(InputFormat.MESSAGES,
        "{'prompt':[{'role':'user','content':'Hi'}],'chosen':[{'role':'user','content':'x'}],"
            + "'rejected':[{'role':'assistant','content':'y'}]}"));
    assertEquals(QuarantineReason.MISSING_FIELD, reason(InputFormat.MESSAGES,
        "{'chosen':[{'role':'assistant','content':'x'}],'rejected':[{'role':'assistant','content':'y'}]}"));
    assertEquals(QuarantineReason.WRONG_TYPE, reason(InputFormat.MESSAGES,
        "{'prompt':[{'role':'user','content':'Hi'}],'chosen':'x','rejected':[]}"));
  }

  @Test
  void rankedPairsTheBestWithEachWorseCompletion() {
    String r = "{'prompt':'P','completions':[{'text':'mid','score':5},{'text':'best','score':9},"
        + "{'text':'worst','score':'1'},{'text':'tie','score':5}]}";
    assertEquals(List.of(new PreferencePair("P", "best", "mid"), new PreferencePair("P", "best", "tie"),
        new PreferencePair("P", "best", "worst")), pairs(InputFormat.RANKED, r));
    List<PreferencePair> all = InputFormat.RANKED.pairs(json(r), new FormatOptions(true, 0, 1));
    assertEquals(5, all.size(), "every better/worse pair, ties excluded: " + all);   // best>3, mid>worst, tie>worst
    List<PreferencePair> gap = InputFormat.RANKED.pairs(json(r), new FormatOptions(true, 4, 1));
    assertEquals(List.of(new PreferencePair("P", "best", "mid"), new PreferencePair("P", "best", "tie"),
        new PreferencePair("P", "best", "worst"), new PreferencePair("P", "mid", "worst"),
        new PreferencePair("P", "tie", "worst")), gap);
  }

  @Test
  void rankedWithoutAPreferenceIsQuarantined() {
    assertEquals(QuarantineReason.NO_PREFERENCE, reason(InputFormat.RANKED,
        "{'prompt':'P','completions':[{'text':'a','score':3},{'text':'b','score':3}]}"));
    assertEquals(QuarantineReason.NO_PREFERENCE, reason(InputFormat.RANKED, "{'prompt':'P','completions':[{'text':'a','score':3}]}"));
    assertEquals(QuarantineReason.WRONG_TYPE, reason(InputFormat.RANKED,
        "{'prompt':'P','completions':[{'text':'a','score':'high'},{'text':'b','score':3}]}"));
  }

  @Test
  void shpColumnsWithScoresRatioAndLabels() {
    String shp = "{'history':'Why?','human_ref_A':'because','human_ref_B':'dunno','score_A':10,'score_B':2,'labels':1}";
    assertEquals(List.of(new PreferencePair("Why?", "because", "dunno")), pairs(InputFormat.RANKED, shp));
    assertEquals(QuarantineReason.NO_PREFERENCE, reason(InputFormat.RANKED, shp, new FormatOptions(false, 0, 6)));
    assertEquals(List.of(new PreferencePair("Why?", "dunno", "because")),
        pairs(InputFormat.RANKED, "{'history':'Why?','human_ref_A':'because','human_ref_B':'dunno','labels':0}"));
  }
}
