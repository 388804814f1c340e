"""Formats and languages beyond the real samples: Akoma Ntoso across namespace versions, debates,
the US Code, DOCX, and plain text in English, French, German and Spanish."""

from __future__ import annotations

import pytest

from custom_llm_public_sector import language

AKN_20 = """<?xml version="1.0" encoding="UTF-8"?>
<akomaNtoso xmlns="http://www.akomantoso.org/2.0">
 <act contains="originalVersion">
  <meta><identification source="#x">
   <FRBRWork><FRBRthis value="/it/act/2004-01-09/4/main"/><FRBRuri value="/it/act/2004-01-09/4"/></FRBRWork>
   <FRBRExpression><FRBRlanguage language="ita"/></FRBRExpression>
  </identification></meta>
  <preface><p><docTitle>Legge 9 gennaio 2004, n. 4</docTitle></p></preface>
  <body>
   <chapter id="chp1"><num>Capo I</num><heading>Principi generali</heading>
    <article id="art1"><num>Art. 1.</num><heading>Obiettivi e finalità</heading>
     <paragraph id="art1-com1"><num>1.</num><content><p>La Repubblica riconosce e tutela il diritto di ogni persona
      ad accedere a tutte le fonti di informazione e ai relativi servizi.</p></content></paragraph>
    </article>
    <article id="art2"><num>Art. 2.</num><heading>Definizioni</heading>
     <paragraph id="art2-com1"><num>1.</num><content><p>Ai fini della presente legge, "accessibilità" significa la
      capacità dei sistemi informatici di erogare servizi fruibili.</p></content></paragraph>
    </article>
   </chapter>
  </body>
 </act>
</akomaNtoso>
"""
AKN_30 = """<?xml version="1.0" encoding="UTF-8"?>
<akomaNtoso xmlns="http://docs.oasis-open.org/legaldocml/ns/akn/3.0">
 <act name="loi">
  <meta><identification source="#x">
   <FRBRWork><FRBRthis value="/akn/fr/act/2016-10-07/1321/!main"/><FRBRuri value="/akn/fr/act/2016-10-07/1321"/>
   </FRBRWork>
   <FRBRExpression><FRBRlanguage language="fra"/></FRBRExpression>
  </identification></meta>
  <body>
   <title eId="tit_1"><num>TITRE IER</num><heading>Circulation des données et du savoir</heading>
    <chapter eId="tit_1__chp_1"><num>Chapitre Ier</num><heading>Économie de la donnée</heading>
     <article eId="tit_1__chp_1__art_1"><num>Article 1er</num><heading>Communication des documents</heading>
      <paragraph eId="tit_1__chp_1__art_1__para_1"><num>I.</num><content><p>Les administrations sont tenues de
       publier en ligne les documents administratifs qu'elles communiquent, dans les conditions prévues par la
       présente loi.</p></content></paragraph>
      <paragraph eId="tit_1__chp_1__art_1__para_2"><num>II.</num><content><p>Au sens du présent article, on
       entend par « données de référence » les données qui constituent une référence commune.</p></content>
      </paragraph>
     </article>
    </chapter>
   </title>
  </body>
 </act>
</akomaNtoso>
"""
AKN_DEBATE = """<?xml version="1.0" encoding="UTF-8"?>
<akomaNtoso xmlns="http://docs.oasis-open.org/legaldocml/ns/akn/3.0">
 <debate name="hansard">
  <meta><identification source="#x"><FRBRWork><FRBRuri value="/akn/za/debate/2020-05-12/1"/></FRBRWork>
  </identification></meta>
  <debateBody>
   <debateSection eId="dbsect_1" name="prayers"><heading>Prayers</heading>
    <speech by="#speaker"><from>The Speaker</from><p>Honourable members, let us pray.</p></speech></debateSection>
   <debateSection eId="dbsect_2" name="questions"><heading>Questions to the Minister</heading>
    <speech by="#mp1"><from>Ms A</from><p>What is the budget for water infrastructure this year?</p></speech>
   </debateSection>
  </debateBody>
 </debate>
</akomaNtoso>
"""
USC = """<?xml version="1.0" encoding="UTF-8"?>
<uscDoc xmlns="http://xml.house.gov/schemas/uslm/1.0" identifier="/us/usc/t1">
 <meta><docNumber>1</docNumber></meta>
 <main><title identifier="/us/usc/t1"><num value="1">Title 1—</num><heading>GENERAL PROVISIONS</heading>
  <chapter identifier="/us/usc/t1/ch1"><num value="1">CHAPTER 1—</num><heading>RULES OF CONSTRUCTION</heading>
   <section identifier="/us/usc/t1/s1"><num value="1">§ 1.</num><heading>Words denoting number, gender, and so
    forth</heading><content>In determining the meaning of any Act of Congress, unless the context indicates
    otherwise— the words “person” and “whoever” include corporations, companies, associations, firms,
    partnerships, societies, and joint stock companies, as well as individuals;</content></section>
  </chapter></title></main>
</uscDoc>
"""
FRENCH = """TITRE IER DISPOSITIONS GÉNÉRALES

Article 1er - Objet
La présente loi a pour objet de garantir l'accès des citoyens aux documents administratifs. Les administrations
sont tenues de publier les documents qu'elles détiennent.

Article 2 - Définitions
Au sens de la présente loi, on entend par « document administratif » tout document produit ou reçu par une
administration dans le cadre de sa mission de service public.
"""
GERMAN = """Abschnitt 1 Allgemeine Vorschriften

§ 1 Anwendungsbereich
Dieses Gesetz gilt für die öffentlich-rechtliche Verwaltungstätigkeit der Behörden des Bundes, soweit nicht
Rechtsvorschriften des Bundes inhaltsgleiche oder entgegenstehende Bestimmungen enthalten.

§ 2 Begriffsbestimmungen
„Behörde“ bezeichnet jede Stelle, die Aufgaben der öffentlichen Verwaltung wahrnimmt.
"""
SPANISH = """CAPÍTULO I Disposiciones generales

Artículo 1. Objeto
La presente ley tiene por objeto regular el acceso de los ciudadanos a la información pública y garantizar la
transparencia de la actividad de las administraciones.

Artículo 2. Definiciones
A los efectos de esta ley, se entiende por «información pública» los contenidos o documentos que obren en poder
de las administraciones.
"""
ENGLISH = """PART 1 GENERAL

Section 1. Purpose
The purpose of this Act is to give the public a right of access to information held by public authorities and
to require that such authorities publish the information they hold.

Section 2. Interpretation
In this Act, "public authority" means any body which exercises functions of a public nature.
"""


def _write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def formats(tmp_path_factory, ingest):
    folder = tmp_path_factory.mktemp("formats")
    for name, text in [
        ("akn20.xml", AKN_20),
        ("akn30.xml", AKN_30),
        ("debate.xml", AKN_DEBATE),
        ("usc.xml", USC),
        ("loi.txt", FRENCH),
        ("gesetz.txt", GERMAN),
        ("ley.txt", SPANISH),
        ("act.txt", ENGLISH),
    ]:
        _write(folder, name, text)
    import docx

    document = docx.Document()
    document.core_properties.title = "Records Management Policy"
    document.add_heading("1. Scope", level=1)
    document.add_paragraph("This policy applies to every record created or received by the department.")
    document.add_heading("2. Retention", level=1)
    document.add_paragraph("Records are kept for seven years after the end of the financial year.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Record", "Period"
    table.cell(1, 0).text, table.cell(1, 1).text = "Invoices", "7 years"
    document.save(folder / "policy.docx")
    return ingest(folder, redact_personal_data=False)


def test_akoma_ntoso_2_0_with_id_attributes(formats):
    article = formats.cited("/it/act/2004-01-09/4#art2")
    meta = article.metadata
    assert meta["akn_version"] == "2.0" and meta["kind"] == "article" and meta["number"] == "2"
    assert meta["heading"] == "Definizioni" and meta["language"] == "it"
    assert [h["kind"] for h in meta["hierarchy"]] == ["act", "chapter", "article"]
    assert meta["subunits"][0]["citation"] == "/it/act/2004-01-09/4#art2-com1"


def test_akoma_ntoso_3_0_with_eids_in_french(formats):
    article = formats.cited("/akn/fr/act/2016-10-07/1321#tit_1__chp_1__art_1")
    meta = article.metadata
    assert meta["akn_version"] == "3.0" and meta["language"] == "fr" and meta["declared_language"] == "fr"
    assert [(h["kind"], h["heading"]) for h in meta["hierarchy"][1:]] == [
        ("title", "Circulation des données et du savoir"),
        ("chapter", "Économie de la donnée"),
        ("article", "Communication des documents"),
    ]
    assert meta["definitions"]["données de référence"].startswith("les données qui constituent")


def test_akoma_ntoso_debate_sections(formats):
    sections = [d for d in formats.documents if d.metadata.get("document_type") == "debate"]
    assert [d.metadata["citation"] for d in sections] == ["/akn/za/debate/2020-05-12/1#dbsect_1", "/akn/za/debate/2020-05-12/1#dbsect_2"]
    assert sections[1].metadata["heading"] == "Questions to the Minister"


def test_us_code(formats):
    section = formats.cited("1 U.S.C. 1")
    assert section.metadata["heading"] == "Words denoting number, gender, and so forth"
    assert [h["kind"] for h in section.metadata["hierarchy"]] == ["title", "title", "chapter", "section"]


@pytest.mark.parametrize(
    ("source", "lang", "citation", "heading", "term"),
    [
        ("act.txt", "en", "act, sec. 2", "Interpretation", "public authority"),
        ("loi.txt", "fr", "loi, art. 2", "Définitions", "document administratif"),
        ("gesetz.txt", "de", "gesetz, § 2", "Begriffsbestimmungen", "Behörde"),
        ("ley.txt", "es", "ley, art. 2", "Definiciones", "información pública"),
    ],
)
def test_plain_text_in_four_languages(formats, source, lang, citation, heading, term):
    units = formats.of(source)
    assert {d.metadata["language"] for d in units} == {lang}
    unit = formats.cited(citation)
    assert unit.metadata["heading"] == heading
    assert term in unit.metadata["definitions"]
    assert unit.metadata["hierarchy"][1]["kind"] in {"part", "titre", "abschnitt", "capítulo"}


def test_docx_headings(formats):
    units = formats.of("policy.docx")
    assert [d.metadata["citation"] for d in units] == ["Records Management Policy, 1", "Records Management Policy, 2"]
    assert units[1].metadata["heading"] == "Retention"
    assert "Invoices | 7 years" in units[1].text


def test_group_by_document(tmp_path, ingest, legal_dir):
    (tmp_path / "ecfr.xml").write_bytes((legal_dir / "ECFR-title1.xml").read_bytes())
    result = ingest(tmp_path, group_by="document", redact_personal_data=False)
    groups = {d.group for d in result.documents}
    assert "ecfr.xml#1 CFR part 1" in groups and "ecfr.xml#1 CFR part 51" in groups
    assert len(groups) == len({d.metadata["container"] for d in result.documents}) > 20  # one group per CFR part


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Secretary shall submit to the Congress a report on the implementation of this section.", "en"),
        (
            "Le ministre chargé de l'économie fixe par arrêté les conditions dans lesquelles les entreprises sont tenues de déclarer leurs données.",
            "fr",
        ),
        ("Die Bundesregierung wird ermächtigt, durch Rechtsverordnung mit Zustimmung des Bundesrates die Einzelheiten zu regeln.", "de"),
        ("El Gobierno podrá dictar las disposiciones necesarias para el desarrollo y ejecución de lo establecido en esta ley.", "es"),
        (
            "Docket Numbers: ER24-1234-000. Applicants: Erie Boulevard Hydropower, L.P. Description: Application "
            "for Authorization Under Section 203 of the Federal Power Act.",
            "en",
        ),
        ("42", "und"),
    ],
)
def test_language_detection(text, expected):
    assert language.detect(text)[0] == expected
    assert language.normalize_code("eng") == "en" and language.normalize_code("fr-FR") == "fr"
