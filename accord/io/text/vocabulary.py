"""Countries and sectors as the text importer recognises them.

Countries come from ISO 3166-1 through ``pycountry`` (short names, common names such as
"Iran" or "Vietnam", official names), plus the variants and adjectives below, which reports use
and ISO does not list. Names that ISO writes with a comma ("Korea, Republic of") are matched
through their common forms instead. Each becomes a STIX ``location`` with its ISO code.

Sectors are a small vocabulary of phrases mapped onto the STIX 2.1 ``industry-sector-ov``
open vocabulary (section 10.12): phrases that say "organisations of this kind", such as
"financial institutions" or "telecommunications companies", not bare words like "energy",
which prose uses for everything. Each becomes an ``identity`` of class ``class`` with that sector.
"""

from __future__ import annotations

from collections.abc import Iterator

# Variants and adjectives -> ISO 3166-1 alpha-2.
COUNTRY_VARIANTS = {
    "UAE": "AE", "U.A.E.": "AE", "Emirates": "AE", "Emirati": "AE",
    "USA": "US", "U.S.": "US", "U.S.A.": "US", "United States": "US",
    "UK": "GB", "U.K.": "GB", "Britain": "GB", "Great Britain": "GB", "British": "GB",
    "Russia": "RU", "Russian": "RU", "Turkey": "TR", "Türkiye": "TR", "Turkish": "TR",
    "Czech Republic": "CZ", "Czech": "CZ", "DPRK": "KP", "North Korean": "KP", "South Korean": "KR",
    "Ivory Coast": "CI", "Burma": "MM", "Macedonia": "MK", "Palestine": "PS", "Palestinian": "PS",
    "Vatican": "VA", "Brunei": "BN", "Cape Verde": "CV", "Swaziland": "SZ", "Micronesia": "FM",
    "Democratic Republic of the Congo": "CD", "DRC": "CD", "Macau": "MO",
    "Afghan": "AF", "Algerian": "DZ", "Armenian": "AM", "Azerbaijani": "AZ", "Bahraini": "BH",
    "Belarusian": "BY", "Brazilian": "BR", "Chinese": "CN", "Colombian": "CO", "Dutch": "NL", "Egyptian": "EG",
    "Ethiopian": "ET", "French": "FR", "Georgian": "GE", "German": "DE", "Greek": "GR", "Hungarian": "HU",
    "Indian": "IN", "Indonesian": "ID", "Iranian": "IR", "Iraqi": "IQ", "Israeli": "IL", "Italian": "IT",
    "Japanese": "JP", "Jordanian": "JO", "Kazakh": "KZ", "Kenyan": "KE", "Kuwaiti": "KW", "Lebanese": "LB",
    "Libyan": "LY", "Malaysian": "MY", "Mexican": "MX", "Moroccan": "MA", "Nigerian": "NG", "Omani": "OM",
    "Pakistani": "PK", "Polish": "PL", "Qatari": "QA", "Romanian": "RO", "Rwandan": "RW", "Saudi": "SA",
    "Serbian": "RS", "Slovak": "SK", "Spanish": "ES", "Sudanese": "SD", "Swiss": "CH", "Syrian": "SY",
    "Taiwanese": "TW", "Thai": "TH", "Ugandan": "UG", "Ukrainian": "UA", "Uzbek": "UZ", "Venezuelan": "VE",
    "Vietnamese": "VN", "Yemeni": "YE",
}

# Phrases (matched in any case) -> industry-sector-ov value.
SECTORS = {
    "financial-services": ("banks", "banking sector", "financial institutions", "financial sector",
                           "financial services", "cryptocurrency exchanges", "fintech companies"),
    "government-national": ("government agencies", "government institutions", "government entities",
                            "government organizations", "government organisations", "ministries",
                            "ministry of foreign affairs", "ministries of foreign affairs", "embassies",
                            "diplomatic missions", "governmental organizations", "governmental organisations"),
    "defense": ("defense contractors", "defence contractors", "defense sector", "defence sector",
                "military organizations", "military organisations", "armed forces", "defense industry"),
    "telecommunications": ("telecommunications companies", "telecom operators", "telecommunications operators",
                           "telecommunications providers", "mobile operators", "telcos",
                           "internet service providers"),
    "energy": ("energy sector", "energy companies", "power grid", "electricity distribution",
               "oil and gas companies"),
    "utilities": ("water utilities", "utility companies"),
    "healthcare": ("hospitals", "healthcare sector", "healthcare organizations", "healthcare organisations",
                   "healthcare providers"),
    "education": ("universities", "academic institutions", "research institutes", "education sector"),
    "non-profit": ("non-governmental organizations", "non-governmental organisations", "ngos", "nonprofits",
                   "human rights organizations", "human rights organisations", "civil society organizations",
                   "civil society organisations"),
    "technology": ("software companies", "technology companies", "it companies", "software developers"),
    "aerospace": ("aerospace companies", "aerospace industry", "aerospace sector"),
    "manufacturing": ("manufacturing companies", "manufacturers", "industrial companies"),
    "transportation": ("airlines", "transportation sector", "logistics companies", "shipping companies"),
    "retail": ("retailers", "e-commerce sites", "online shops"),
    "hospitality-leisure": ("hotels", "hospitality industry", "casinos"),
    "entertainment": ("gaming companies", "video game companies", "game developers"),
    "pharmaceuticals": ("pharmaceutical companies",),
    "insurance": ("insurance companies", "insurers"),
}


def country_names() -> Iterator[tuple[str, str, str]]:
    """(name as written, ISO alpha-2, the country's short name) for every name recognised."""
    import pycountry

    for country in pycountry.countries:
        short = getattr(country, "common_name", None) or country.name
        code = country.alpha_2
        for name in {country.name, short, getattr(country, "official_name", None) or short}:
            if "," not in name:
                yield name, code, short
    for name, code in COUNTRY_VARIANTS.items():
        country = pycountry.countries.get(alpha_2=code)
        if country is not None:
            yield name, code, getattr(country, "common_name", None) or country.name
