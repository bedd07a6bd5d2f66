"""The demo's fictional night: its sites, residents and the calls they make.

Every person here is invented. NHS numbers come from the 900 range, which is never issued to
real patients, and carry valid check digits (records/nhs_number.py); a test checks both.
Observations are what a care-home or prison nurse would plausibly take before calling; the
hub and the desk score them with NEWS2 (records/news2.py). ``outcome`` and the SBARD notes
are what the demo's own nurse records when it answers by itself (``--auto`` or headless).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import cycle, islice

from hub.contract import signaling as p
from hub.contract.identity import SiteKind


@dataclass(frozen=True)
class DemoSite:
    key: str
    name: str
    kind: SiteKind

    @property
    def kind_label(self) -> str:
        return {"care_home": "care home", "prison": "prison",
                "home": "home (Gold Line)"}[self.kind.value]


@dataclass(frozen=True)
class Resident:
    name: str
    nhs_number: str
    date_of_birth: str  # ISO date


@dataclass(frozen=True)
class Scenario:
    """One call: what the caller says and measured, and what the demo nurse concludes."""

    site: str  # DemoSite.key
    resident: Resident
    reason: str
    urgency: p.Urgency
    intended_action: p.IntendedAction
    observations: p.PreCallObservations
    soft_signs: tuple[str, ...] = ()
    # What the demo nurse records when it answers by itself.
    situation: str = ""
    assessment: str = ""
    recommendation: str = ""
    decision: str = ""
    outcome: str = "advice_managed_in_place"
    referral: str = ""


CARE_HOME = DemoSite("care_home", "Beech House Care Home (demo)", SiteKind.CARE_HOME)
PRISON = DemoSite("prison", "HMP Moorgate healthcare (demo)", SiteKind.PRISON)
HOME = DemoSite("home", "Gold Line", SiteKind.HOME)
SITES = (CARE_HOME, PRISON, HOME)

EDITH = Resident("Edith Harrow", "9000000017", "1934-03-12")
ARTHUR = Resident("Arthur Penrose", "9000000025", "1929-11-02")
DANIEL = Resident("Daniel Okafor", "9000000033", "1988-06-21")
LEE = Resident("Lee Marsh", "9000000041", "1975-01-30")
# The home patient is enrolled by invitation; the hub puts her on every call she makes.
MARGARET = Resident("Margaret Ellis", "9000000068", "1941-08-09")
RESIDENTS = (EDITH, ARTHUR, DANIEL, LEE, MARGARET)

_obs = p.PreCallObservations

SCENARIOS: dict[str, tuple[Scenario, ...]] = {
    "care_home": (
        Scenario(
            "care_home", EDITH,
            "Found on the lounge floor after a fall; no obvious injury but more muddled "
            "than usual", p.Urgency.URGENT, p.IntendedAction.AMBULANCE_999,
            _obs(respiration_rate=18, spo2=96, on_oxygen=False, systolic_bp=132, pulse=88,
                 consciousness="A", temperature=36.9),
            ("unsteadiness_or_falls", "change_in_confusion"),
            situation="Unwitnessed fall in the lounge at 21:40, found sitting on the floor.",
            assessment="No head injury or hip pain on video; moving all limbs; NEWS2 0. "
                       "Confusion a little above her usual (known dementia).",
            recommendation="Neuro observations hourly for 4 hours; GP review in the morning.",
            decision="Stay at Beech House; call the hub again if she is drowsier or in pain.",
            outcome="advice_managed_in_place", referral="gp"),
        Scenario(
            "care_home", ARTHUR,
            "Breathless since last night, coughing green phlegm, off his food",
            p.Urgency.URGENT, p.IntendedAction.AMBULANCE_999,
            _obs(respiration_rate=24, spo2=92, on_oxygen=False, systolic_bp=108, pulse=104,
                 consciousness="A", temperature=38.4),
            ("new_shortness_of_breath", "change_in_appetite", "increased_tiredness"),
            situation="Increasing breathlessness over 24 hours with a productive cough.",
            assessment="Probable chest infection; NEWS2 high (7). Talking in full sentences.",
            recommendation="Emergency assessment: ambulance requested by the hub.",
            decision="Ambulance on its way; carers to stay with him and send his care plan.",
            outcome="ambulance_requested", referral="ambulance_service"),
    ),
    "prison": (
        Scenario(
            "prison", DANIEL,
            "Cut to the left forearm from a razor blade; bleeding controlled with pressure",
            p.Urgency.URGENT, p.IntendedAction.AE,
            _obs(respiration_rate=16, spo2=98, on_oxygen=False, systolic_bp=126, pulse=84,
                 consciousness="A", temperature=36.7),
            (),
            situation="Superficial 3 cm laceration, left forearm, self-inflicted.",
            assessment="Edges close on video, no tendon involvement, bleeding stopped.",
            recommendation="Closure with adhesive strips by healthcare staff; ACCT review.",
            decision="Managed in the healthcare centre; no escorted transfer to A&E.",
            outcome="advice_managed_in_place", referral="prison_healthcare"),
        Scenario(
            "prison", LEE,
            "Chest tightness after exercise in the gym, now settled at rest",
            p.Urgency.EMERGENCY, p.IntendedAction.AMBULANCE_999,
            _obs(respiration_rate=17, spo2=97, on_oxygen=False, systolic_bp=142, pulse=90,
                 consciousness="A", temperature=36.8),
            (),
            situation="Central chest tightness for 10 minutes during exercise, gone at rest.",
            assessment="Pain-free now, NEWS2 0; ECG by healthcare staff without acute change.",
            recommendation="Prison GP review and troponin tomorrow; call back if pain returns.",
            decision="Stays on the healthcare wing overnight with observations every 2 hours.",
            outcome="gp_referral", referral="prison_healthcare"),
    ),
    "home": (
        Scenario(
            "home", MARGARET,
            "Pain breaking through despite her morphine; her daughter is worried",
            p.Urgency.URGENT, p.IntendedAction.NHS_111,
            _obs(respiration_rate=20, pulse=96, consciousness="A"),
            ("more_distressed",),
            situation="Palliative (Gold Line); breakthrough pain in the last 3 hours.",
            assessment="Distressed but alert; breathing comfortably; partial observations.",
            recommendation="Breakthrough dose as prescribed; community palliative team visit.",
            decision="Palliative nurse visiting tonight; daughter to call again at any time.",
            outcome="palliative_referral", referral="palliative_care"),
        Scenario(
            "home", MARGARET,
            "Much sleepier this evening and not drinking; family asking what to expect",
            p.Urgency.ROUTINE, p.IntendedAction.NOTHING,
            _obs(respiration_rate=18, pulse=88, consciousness="V"),
            ("increased_tiredness", "change_in_appetite"),
            situation="More drowsy since the afternoon, sipping only.",
            assessment="Expected change in the last days of life; comfortable on video.",
            recommendation="Mouth care, keep her comfortable; district nurse visit tomorrow.",
            decision="Stays at home as she wishes; the family may call at any hour.",
            outcome="advice_managed_in_place", referral="community_nursing"),
    ),
}


def night(calls: int) -> list[Scenario]:
    """``calls`` scenarios, taking the sites in turn (care home, prison, home, ...)."""
    per_site = {key: cycle(items) for key, items in SCENARIOS.items()}
    order = islice(cycle([s.key for s in SITES]), calls)
    return [next(per_site[key]) for key in order]


def site(key: str) -> DemoSite:
    return next(s for s in SITES if s.key == key)
