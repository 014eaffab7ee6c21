"""The works the methods text cites: one entry each, as BibTeX (``references.bib``) and as the
report's numbered reference list."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    key: str
    kind: str  # BibTeX entry type
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""  # the reference as the report lists it

    def bibtex(self) -> str:
        width = max(len(k) for k in self.fields)
        lines = [f"  {k.ljust(width)} = {{{v}}}," for k, v in self.fields.items()]
        return f"@{self.kind}{{{self.key},\n" + "\n".join(lines) + "\n}\n"


REFERENCES: tuple[Reference, ...] = (
    Reference(
        "blazkova_hip",
        "misc",
        {
            "author": "Blažková, Lenka",
            "title": "Segmentation of hip joint anatomy structures from radiographic images",
            "howpublished": "Department of Biomedical Engineering, FEEC, Brno University of "
            "Technology, Brno, Czech Republic",
            "note": "The study this workflow reproduces",
        },
        "L. Blažková, “Segmentation of hip joint anatomy structures from radiographic images,” "
        "Department of Biomedical Engineering, FEEC, Brno University of Technology.",
    ),
    Reference(
        "isensee2021nnunet",
        "article",
        {
            "author": "Isensee, Fabian and Jaeger, Paul F. and Kohl, Simon A. A. and "
            "Petersen, Jens and Maier-Hein, Klaus H.",
            "title": "{nnU-Net}: a self-configuring method for deep learning-based biomedical "
            "image segmentation",
            "journal": "Nature Methods",
            "volume": "18",
            "number": "2",
            "pages": "203--211",
            "year": "2021",
            "doi": "10.1038/s41592-020-01008-z",
        },
        "F. Isensee, P. F. Jaeger, S. A. A. Kohl, J. Petersen, K. H. Maier-Hein, “nnU-Net: a "
        "self-configuring method for deep learning-based biomedical image segmentation,” "
        "Nature Methods 18(2):203–211, 2021. doi:10.1038/s41592-020-01008-z",
    ),
    Reference(
        "moelder2021snakemake",
        "article",
        {
            "author": "Mölder, Felix and Jablonski, Kim Philipp and Letcher, Brice and "
            "Hall, Michael B. and Tomkins-Tinch, Christopher H. and Sochat, Vanessa and "
            "Forster, Jan and Lee, Soohyun and Twardziok, Sven O. and Kanitz, Alexander and "
            "Wilm, Andreas and Holtgrewe, Manuel and Rahmann, Sven and Nahnsen, Sven and "
            "Köster, Johannes",
            "title": "Sustainable data analysis with {Snakemake}",
            "journal": "F1000Research",
            "volume": "10",
            "pages": "33",
            "year": "2021",
            "doi": "10.12688/f1000research.29032.2",
        },
        "F. Mölder, K. P. Jablonski, B. Letcher, et al., “Sustainable data analysis with "
        "Snakemake,” F1000Research 10:33, 2021. doi:10.12688/f1000research.29032.2",
    ),
    Reference(
        "maierhein2024metrics",
        "article",
        {
            "author": "Maier-Hein, Lena and Reinke, Annika and Godau, Patrick and others",
            "title": "Metrics reloaded: recommendations for image analysis validation",
            "journal": "Nature Methods",
            "volume": "21",
            "number": "2",
            "pages": "195--212",
            "year": "2024",
            "doi": "10.1038/s41592-023-02151-z",
        },
        "L. Maier-Hein, A. Reinke, P. Godau, et al., “Metrics reloaded: recommendations for "
        "image analysis validation,” Nature Methods 21(2):195–212, 2024. "
        "doi:10.1038/s41592-023-02151-z",
    ),
    Reference(
        "nikolov2021nsd",
        "article",
        {
            "author": "Nikolov, Stanislav and Blackwell, Sam and Zverovitch, Alexei and others",
            "title": "Clinically applicable segmentation of head and neck anatomy for "
            "radiotherapy: deep learning algorithm development and validation study",
            "journal": "Journal of Medical Internet Research",
            "volume": "23",
            "number": "7",
            "pages": "e26151",
            "year": "2021",
            "doi": "10.2196/26151",
        },
        "S. Nikolov, S. Blackwell, A. Zverovitch, et al., “Clinically applicable segmentation "
        "of head and neck anatomy for radiotherapy: deep learning algorithm development and "
        "validation study,” J. Med. Internet Res. 23(7):e26151, 2021. doi:10.2196/26151",
    ),
    Reference(
        "maier_medpy",
        "misc",
        {
            "author": "Maier, Oskar",
            "title": "{MedPy}: medical image processing in {Python}",
            "howpublished": "\\url{https://github.com/loli/medpy}",
            "note": "Software",
        },
        "O. Maier, “MedPy: medical image processing in Python,” software, "
        "https://github.com/loli/medpy",
    ),
    Reference(
        "efron1987bca",
        "article",
        {
            "author": "Efron, Bradley",
            "title": "Better bootstrap confidence intervals",
            "journal": "Journal of the American Statistical Association",
            "volume": "82",
            "number": "397",
            "pages": "171--185",
            "year": "1987",
            "doi": "10.1080/01621459.1987.10478410",
        },
        "B. Efron, “Better bootstrap confidence intervals,” J. Am. Stat. Assoc. "
        "82(397):171–185, 1987. doi:10.1080/01621459.1987.10478410",
    ),
    Reference(
        "wilcoxon1945",
        "article",
        {
            "author": "Wilcoxon, Frank",
            "title": "Individual comparisons by ranking methods",
            "journal": "Biometrics Bulletin",
            "volume": "1",
            "number": "6",
            "pages": "80--83",
            "year": "1945",
            "doi": "10.2307/3001968",
        },
        "F. Wilcoxon, “Individual comparisons by ranking methods,” Biometrics Bulletin "
        "1(6):80–83, 1945. doi:10.2307/3001968",
    ),
    Reference(
        "benjamini1995fdr",
        "article",
        {
            "author": "Benjamini, Yoav and Hochberg, Yosef",
            "title": "Controlling the false discovery rate: a practical and powerful approach "
            "to multiple testing",
            "journal": "Journal of the Royal Statistical Society: Series B (Methodological)",
            "volume": "57",
            "number": "1",
            "pages": "289--300",
            "year": "1995",
            "doi": "10.1111/j.2517-6161.1995.tb02031.x",
        },
        "Y. Benjamini, Y. Hochberg, “Controlling the false discovery rate: a practical and "
        "powerful approach to multiple testing,” J. R. Stat. Soc. B 57(1):289–300, 1995. "
        "doi:10.1111/j.2517-6161.1995.tb02031.x",
    ),
    Reference(
        "virtanen2020scipy",
        "article",
        {
            "author": "Virtanen, Pauli and Gommers, Ralf and Oliphant, Travis E. and others",
            "title": "{SciPy} 1.0: fundamental algorithms for scientific computing in {Python}",
            "journal": "Nature Methods",
            "volume": "17",
            "number": "3",
            "pages": "261--272",
            "year": "2020",
            "doi": "10.1038/s41592-019-0686-2",
        },
        "P. Virtanen, R. Gommers, T. E. Oliphant, et al., “SciPy 1.0: fundamental algorithms "
        "for scientific computing in Python,” Nature Methods 17(3):261–272, 2020. "
        "doi:10.1038/s41592-019-0686-2",
    ),
    Reference(
        "holm1979",
        "article",
        {
            "author": "Holm, Sture",
            "title": "A simple sequentially rejective multiple test procedure",
            "journal": "Scandinavian Journal of Statistics",
            "volume": "6",
            "number": "2",
            "pages": "65--70",
            "year": "1979",
            "url": "https://www.jstor.org/stable/4615733",
        },
        "S. Holm, “A simple sequentially rejective multiple test procedure,” Scandinavian "
        "Journal of Statistics 6(2):65–70, 1979.",
    ),
    Reference(
        "hall1991bootstrap",
        "article",
        {
            "author": "Hall, Peter and Wilson, Susan R.",
            "title": "Two guidelines for bootstrap hypothesis testing",
            "journal": "Biometrics",
            "volume": "47",
            "number": "2",
            "pages": "757--762",
            "year": "1991",
            "doi": "10.2307/2532163",
        },
        "P. Hall, S. R. Wilson, “Two guidelines for bootstrap hypothesis testing,” Biometrics "
        "47(2):757–762, 1991. doi:10.2307/2532163",
    ),
    Reference(
        "dicom_ps315",
        "manual",
        {
            "organization": "National Electrical Manufacturers Association (NEMA)",
            "title": "{DICOM} {PS3.15}: Security and System Management Profiles, Annex E: "
            "Attribute Confidentiality Profiles",
            "url": "https://dicom.nema.org/medical/dicom/current/output/html/part15.html",
        },
        "NEMA, “DICOM PS3.15: Security and System Management Profiles, Annex E: Attribute "
        "Confidentiality Profiles,” https://dicom.nema.org/medical/dicom/current/output/html/"
        "part15.html",
    ),
)
BY_KEY: dict[str, Reference] = {r.key: r for r in REFERENCES}


def bibtex(keys: list[str] | None = None) -> str:
    """The BibTeX of the given references (all, in citation order, when ``keys`` is None)."""
    refs = REFERENCES if keys is None else [BY_KEY[k] for k in keys]
    header = "% References of the hipseg report's methods text (generated by hipseg).\n\n"
    return header + "\n".join(r.bibtex() for r in refs)
