/**
 * Data of the built-in named country sets. Every set carries its citation and the date its membership
 * reflects, so a decision record can say which list it relied on. Codes are ISO 3166-1 alpha-2; index.ts
 * validates, sorts and freezes them, and applies the Hong Kong rule to the EAR sets (`ear: true`).
 *
 * EAR Country Groups (15 CFR Part 740, Supplement No. 1), research notes:
 * - Country Group A was read from a copy of the table verified against eCFR.gov as of 2026-06-20 and is
 *   followed as printed, including the United States in A:1 and Iceland in A:1.
 * - Country Groups B and D could not be read in full from that copy (it was cut off at the D table). They
 *   were rebuilt from the regulation's prior text plus every amendment found in the Federal Register and
 *   BIS notices: Venezuela B → D:1–D:4 (2019-05-24); Russia A:2/A:4 → D:2/D:4 and Yemen B → D:1
 *   (2020-02-24, corrected 2020-03-06); Ukraine D:1 → B, Mexico and Cyprus → A:6 (2020-12-28); Hong Kong
 *   removed as a destination (2020-12-23); Burma B → D:1 (2021-03-08); Nicaragua B → D:1 and D:5
 *   (2024-03-15); Cambodia out of D:5 (2026-02-03). Re-check B and D against the eCFR before relying on
 *   them for a licence decision; the points most worth checking are listed per set.
 */

export interface SetData {
  readonly name: string;
  readonly description: string;
  readonly source: string;
  /** YYYY-MM-DD: the date the membership below reflects. */
  readonly asOf: string;
  readonly members: readonly string[];
  /** An EAR Country Group: Hong Kong follows China (see index.ts). */
  readonly ear: boolean;
}

const EAR_TABLE = "15 CFR Part 740, Supplement No. 1 (Country Groups), Export Administration Regulations";
const HK_NOTE =
  "Hong Kong is not listed separately: since the BIS rule of 23 December 2020 implementing E.O. 13936 the EAR " +
  "treats Hong Kong as China, so HK is a member exactly when CN is (applied as a rule, not listed by hand).";

export const SET_DATA: readonly SetData[] = [
  {
    name: "G7",
    description: "Group of Seven member states (the EU takes part but is not a country).",
    source: "G7 membership (Canada, France, Germany, Italy, Japan, United Kingdom, United States)",
    asOf: "2026-01-01",
    members: ["CA", "DE", "FR", "GB", "IT", "JP", "US"],
    ear: false,
  },
  {
    name: "FIVE_EYES",
    description: "UKUSA signals-intelligence partners.",
    source: "UKUSA Agreement parties (Australia, Canada, New Zealand, United Kingdom, United States)",
    asOf: "2026-01-01",
    members: ["AU", "CA", "GB", "NZ", "US"],
    ear: false,
  },
  {
    name: "NATO",
    description:
      "North Atlantic Treaty Organization members (32), including Finland (2023) and Sweden (2024).",
    source: "North Atlantic Treaty (1949) parties; Sweden's accession of 7 March 2024 is the latest",
    asOf: "2024-03-07",
    // prettier-ignore
    members: [
      "AL", "BE", "BG", "CA", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IS",
      "IT", "LT", "LU", "LV", "ME", "MK", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK", "TR", "US",
    ],
    ear: false,
  },
  {
    name: "EU",
    description: "European Union member states (27) since the United Kingdom's withdrawal.",
    source: "Treaty on European Union, Article 52; UK withdrawal effective 1 February 2020",
    asOf: "2020-02-01",
    // prettier-ignore
    members: [
      "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
      "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    ],
    ear: false,
  },
  {
    name: "OECD",
    description: "OECD member countries (38); accession candidates are not members.",
    source:
      "Convention on the Organisation for Economic Co-operation and Development; Costa Rica (2021) is the latest accession",
    asOf: "2026-01-01",
    // prettier-ignore
    members: [
      "AT", "AU", "BE", "CA", "CH", "CL", "CO", "CR", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB",
      "GR", "HU", "IE", "IL", "IS", "IT", "JP", "KR", "LT", "LU", "LV", "MX", "NL", "NO", "NZ", "PL",
      "PT", "SE", "SI", "SK", "TR", "US",
    ],
    ear: false,
  },
  {
    name: "EAR_A1",
    description:
      "EAR Country Group A:1, Wassenaar Arrangement participating states except Malta, Russia and Ukraine. " +
      "The table marks the United States and Iceland, and both are kept as printed. " +
      HK_NOTE,
    source: `${EAR_TABLE}, Country Group A:1`,
    asOf: "2026-06-20",
    // prettier-ignore
    members: [
      "AR", "AU", "AT", "BE", "BG", "CA", "HR", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IS",
      "IN", "IE", "IT", "JP", "KR", "LV", "LT", "LU", "MX", "NL", "NZ", "NO", "PL", "PT", "RO", "SK",
      "SI", "ZA", "ES", "SE", "CH", "TR", "GB", "US",
    ],
    ear: true,
  },
  {
    name: "EAR_A5",
    description:
      "EAR Country Group A:5, destinations eligible for License Exception STA (§ 740.20(c)(1)). " + HK_NOTE,
    source: `${EAR_TABLE}, Country Group A:5`,
    asOf: "2026-06-20",
    // prettier-ignore
    members: [
      "AR", "AU", "AT", "BE", "BG", "CA", "HR", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IS",
      "IN", "IE", "IT", "JP", "KR", "LV", "LT", "LU", "NL", "NZ", "NO", "PL", "PT", "RO", "SK", "SI",
      "ES", "SE", "CH", "TR", "GB",
    ],
    ear: true,
  },
  {
    name: "EAR_A6",
    description:
      "EAR Country Group A:6, destinations eligible for License Exception STA under § 740.20(c)(2). " +
      HK_NOTE,
    source: `${EAR_TABLE}, Country Group A:6`,
    asOf: "2026-06-20",
    // Albania, Cyprus, Israel, Malta, Mexico, Singapore, South Africa, Taiwan.
    members: ["AL", "CY", "IL", "MT", "MX", "SG", "ZA", "TW"],
    ear: true,
  },
  {
    name: "EAR_B",
    description:
      "EAR Country Group B, destinations eligible for the more favourable national-security license exceptions " +
      "(e.g. GBS, § 740.4). Burma (2021), Venezuela (2019), Yemen (2020) and Nicaragua (2024) left it for D:1; " +
      "Ukraine joined it in 2020. Points to verify against the eCFR: Afghanistan, Kosovo and Western Sahara. " +
      HK_NOTE,
    source: `${EAR_TABLE}, Country Group B; amendments of 2019-05-24, 2020-02-24, 2020-12-28, 2021-03-08, 2024-03-15`,
    asOf: "2026-02-03",
    // prettier-ignore
    members: [
      "AF", // Afghanistan
      "AL", "DZ", "AD", "AO", "AG", "AR", "AW", "AU", "AT", // Albania … Austria (AW Aruba)
      "BS", "BH", "BD", "BB", "BE", "BZ", "BJ", "BT", "BO", "BA", "BW", "BR", "BN", "BG", "BF", "BI", // Bahamas … Burundi
      "CV", // Cabo Verde
      "CM", "CA", "CF", "TD", "CL", "CO", // Cameroon, Canada, Central African Rep., Chad, Chile, Colombia
      "KM", // Comoros
      "CD", // Congo (Democratic Republic of the)
      "CG", // Congo (Republic of the)
      "CR", "CI", "HR", "CW", "CY", "CZ", // Costa Rica, Côte d'Ivoire, Croatia, Curaçao, Cyprus, Czech Rep.
      "DK", "DJ", "DM", "DO", // Denmark, Djibouti, Dominica, Dominican Republic
      "TL", // East Timor
      "EC", "EG", "SV", "GQ", "ER", "EE", // Ecuador, Egypt, El Salvador, Equatorial Guinea, Eritrea, Estonia
      "SZ", // Eswatini
      "ET", "FJ", "FI", "FR", // Ethiopia, Fiji, Finland, France
      "GA", "GM", "DE", "GH", "GR", "GD", "GT", "GN", "GW", "GY", // Gabon … Guyana
      "HT", "HN", "HU", // Haiti, Honduras, Hungary
      "IS", "IN", "ID", "IE", "IL", "IT", // Iceland … Italy
      "JM", "JP", "JO", // Jamaica, Japan, Jordan
      "KE", "KI", // Kenya, Kiribati
      "KR", // Korea, South
      "XK", // Kosovo
      "KW", // Kuwait
      "LV", "LB", "LS", "LR", "LI", "LT", "LU", // Latvia … Luxembourg
      "MG", "MW", "MY", "MV", "ML", "MT", "MH", "MR", "MU", "MX", // Madagascar … Mexico
      "FM", // Micronesia (Federated States of)
      "MC", "ME", "MA", "MZ", // Monaco, Montenegro, Morocco, Mozambique
      "NA", "NR", "NP", "NL", "NZ", "NE", "NG", // Namibia … Nigeria
      "MK", // North Macedonia
      "NO", "OM", // Norway, Oman
      "PK", "PW", "PA", "PG", "PY", "PE", "PH", "PL", "PT", // Pakistan … Portugal
      "QA", "RO", "RW", // Qatar, Romania, Rwanda
      "KN", "LC", "VC", // Saint Kitts and Nevis, Saint Lucia, Saint Vincent and the Grenadines
      "WS", "SM", "ST", "SA", "SN", "RS", "SC", "SL", "SG", // Samoa … Singapore (ST São Tomé and Príncipe)
      "SX", // Sint Maarten
      "SK", "SI", "SB", "SO", "ZA", "SS", "ES", "LK", "SD", // Slovakia … Sudan
      "SR", "SE", "CH", // Suriname, Sweden, Switzerland
      "TW", "TZ", "TH", "TG", "TO", "TT", "TN", // Taiwan … Tunisia
      "TR", // Türkiye
      "TV", "UG", "UA", "AE", "GB", "UY", // Tuvalu, Uganda, Ukraine, UAE, United Kingdom, Uruguay
      "VU", "VA", // Vanuatu, Vatican City
      "EH", // Western Sahara
      "ZM", "ZW", // Zambia, Zimbabwe
    ],
    ear: true,
  },
  {
    name: "EAR_D1",
    description:
      "EAR Country Group D:1, countries of national security concern. Macau is listed; Cambodia stays in D:1 " +
      "(only its D:5 listing ended in February 2026). Cuba, Iran and Syria are covered by Country Group E, not " +
      "D:1; North Korea is in both. " +
      HK_NOTE,
    source: `${EAR_TABLE}, Country Group D:1; amendments of 2019-05-24 (Venezuela), 2020-02-24 (Yemen), 2020-12-28 (Ukraine out), 2021-03-08 (Burma), 2024-03-15 (Nicaragua)`,
    asOf: "2026-02-03",
    // prettier-ignore
    members: [
      "AM", "AZ", "BY", // Armenia, Azerbaijan, Belarus
      "MM", // Burma
      "KH", "CN", "GE", "IQ", "KZ", // Cambodia, China, Georgia, Iraq, Kazakhstan
      "KP", // Korea, North
      "KG", "LA", "LY", // Kyrgyzstan, Laos, Libya
      "MO", // Macau
      "MD", "MN", "NI", "RU", "TJ", "TM", "UZ", "VE", "VN", "YE", // Moldova … Yemen
    ],
    ear: true,
  },
  {
    name: "EAR_D4",
    description:
      "EAR Country Group D:4, countries of missile technology concern. Macau is listed. " + HK_NOTE,
    source: `${EAR_TABLE}, Country Group D:4; amendments of 2019-05-24 (Venezuela) and 2020-02-24 (Russia)`,
    asOf: "2026-02-03",
    // prettier-ignore
    members: [
      "BH", "CN", "EG", "IR", "IQ", "IL", "JO", // Bahrain, China, Egypt, Iran, Iraq, Israel, Jordan
      "KP", // Korea, North
      "KW", "LB", "LY", // Kuwait, Lebanon, Libya
      "MO", // Macau
      "OM", "PK", "QA", "RU", "SA", "SY", "TW", "AE", "VE", "YE", // Oman … Yemen (AE United Arab Emirates)
    ],
    ear: true,
  },
  {
    name: "EAR_D5",
    description:
      "EAR Country Group D:5, U.S. arms embargoed countries (kept identical to ITAR 22 CFR 126.1). Cambodia was " +
      "removed in February 2026. Macau is not listed in D:5. Cyprus stays listed while ITAR 126.1(r) lists it, " +
      "although the policy of denial is suspended year by year. " +
      HK_NOTE,
    source: `${EAR_TABLE}, Country Group D:5; 22 CFR 126.1; Nicaragua added 2024-03-15; Cambodia removed by BIS rule of 2026-02-03`,
    asOf: "2026-02-03",
    // prettier-ignore
    members: [
      "AF", "BY", // Afghanistan, Belarus
      "MM", // Burma
      "CF", "CN", // Central African Republic, China
      "CD", // Congo (Democratic Republic of the)
      "CU", "CY", "ER", "HT", "IR", "IQ", // Cuba, Cyprus, Eritrea, Haiti, Iran, Iraq
      "KP", // Korea, North
      "LB", "LY", "NI", "RU", "SO", "SS", "SD", "SY", "VE", "ZW", // Lebanon … Zimbabwe
    ],
    ear: true,
  },
  {
    name: "EAR_E1",
    description: "EAR Country Group E:1, terrorist supporting countries. " + HK_NOTE,
    source: `${EAR_TABLE}, Country Group E:1`,
    asOf: "2026-02-03",
    members: ["IR", "KP", "SY"],
    ear: true,
  },
  {
    name: "EAR_E2",
    description: "EAR Country Group E:2, unilateral embargo. " + HK_NOTE,
    source: `${EAR_TABLE}, Country Group E:2`,
    asOf: "2026-02-03",
    members: ["CU"],
    ear: true,
  },
  {
    name: "AI_DIFFUSION_TIER1",
    description:
      "Tier 1 destinations of the Framework for Artificial Intelligence Diffusion (the 18 listed partners plus " +
      "the United States). BIS announced in May 2025 that it would rescind the rule and not enforce it; the list " +
      "is kept as a named reference set, not as a statement of current law.",
    source:
      "BIS interim final rule 'Framework for Artificial Intelligence Diffusion', 90 FR 4544 (15 January 2025), " +
      "License Exception AIA (15 CFR 740.27)",
    asOf: "2025-01-15",
    // prettier-ignore
    members: [
      "AU", "BE", "CA", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "JP", "KR", "NL", "NO", "NZ",
      "SE", "TW", "US",
    ],
    ear: false,
  },
];
