"""DICOM WSI series: drop LABEL/OVERVIEW instances, blank patient/study identifiers, remap UIDs.

Pixel data (encapsulated JPEG frames) is copied as the original bytes; only the header changes.
Beyond the named attributes, every person name and every date/time anywhere in the dataset (also
inside sequences) is blanked, private tags are removed, and instance UIDs are replaced consistently
across the series so the copy cannot be matched to the hospital PACS by UID.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import generate_uid

from app.deid.certificate import Removal, RemovalKind
from app.deid.errors import DeidError

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
DROP_IMAGE_TYPES = {"LABEL", "OVERVIEW"}
MIN_NEEDLE = 4

# Identifying attributes removed outright (Type 3, or sequences whose items identify the specimen/order).
DELETE = (
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers", "PatientComments",
    "MedicalRecordLocator", "EthnicGroup", "PatientAge", "PatientSize", "PatientWeight",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "OperatorsName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord",
    "RequestingPhysician", "DeviceSerialNumber", "LabelText", "BarcodeValue", "StudyDescription",
    "ImageComments", "RequestAttributesSequence", "ReferencedStudySequence", "ReferencedPatientSequence",
    "IssuerOfTheContainerIdentifierSequence", "AlternateContainerIdentifierSequence",
    "IssuerOfPatientID", "IssuerOfAccessionNumberSequence", "ClinicalTrialSubjectID",
    "ClinicalTrialSponsorName", "ClinicalTrialSiteName", "AdmissionID", "ServiceEpisodeID",
)  # fmt: skip
# Type 1/2 attributes: kept present but emptied (or set to the pseudonym) so the IOD stays valid.
BLANK = (
    "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "ReferringPhysicianName",
    "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime",
    "AcquisitionDateTime", "ContentDate", "ContentTime", "InstanceCreationDate", "InstanceCreationTime",
    "ContainerIdentifier",
)  # fmt: skip
PSEUDONYMISE = ("PatientName", "PatientID")
UID_KEYWORDS = {
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "MediaStorageSOPInstanceUID",
    "FrameOfReferenceUID", "DimensionOrganizationUID", "ReferencedSOPInstanceUID", "SpecimenUID",
    "ConcatenationUID", "SynchronizationFrameOfReferenceUID", "ContainerComponentUID",
}  # fmt: skip
PERSON_OR_TIME_VRS = {"PN", "DA", "DT", "TM"}


@dataclass
class DicomResult:
    removed: list[Removal] = field(default_factory=list)
    needles: set[str] = field(default_factory=set)
    source_volume: Path = Path()
    output_volume: Path = Path()

    def note(self, kind: RemovalKind, name: str, detail: str = "") -> None:
        if not any(r.kind == kind and r.name == name for r in self.removed):
            self.removed.append(Removal(kind=kind, name=name, detail=detail))

    def needle(self, value: Any) -> None:
        values = value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
        for v in values:
            s = str(v).strip()
            if len(s) >= MIN_NEEDLE:
                self.needles.add(s)


def _read(path: Path) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path)
    except (InvalidDicomError, EOFError):
        return None
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise DeidError(f"corrupt DICOM file {path.name}: {exc}") from exc


def _walk(ds: Dataset) -> Iterator[tuple[Dataset, Any]]:
    for elem in list(ds):
        yield ds, elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)


def _scrub(ds: Dataset, pseudonym: str, uid_map: dict[str, str], result: DicomResult) -> None:
    for kw in DELETE:
        if kw in ds:
            result.needle(ds[kw].value if ds[kw].VR != "SQ" else "")
            del ds[kw]
            result.note("dicom_attribute", kw, "removed")
    for kw in BLANK:
        if kw in ds:
            result.needle(ds[kw].value)
            setattr(ds, kw, "")
            result.note("dicom_attribute", kw, "blanked")
    for kw in PSEUDONYMISE:
        if kw in ds:
            result.needle(ds[kw].value)
        setattr(ds, kw, pseudonym)
        result.note("dicom_attribute", kw, "replaced by the pseudonym")
    if "SpecimenDescriptionSequence" in ds:
        for item in ds.SpecimenDescriptionSequence:
            for kw in ("SpecimenIdentifier", "SpecimenShortDescription", "SpecimenDetailedDescription"):
                if kw in item:
                    result.needle(item[kw].value)
                    setattr(item, kw, pseudonym if kw == "SpecimenIdentifier" else "")
                    result.note("dicom_attribute", f"SpecimenDescriptionSequence.{kw}", "blanked")
            if "IssuerOfTheSpecimenIdentifierSequence" in item:
                del item.IssuerOfTheSpecimenIdentifierSequence
            if "SpecimenPreparationSequence" in item:
                del item.SpecimenPreparationSequence  # free-text steps often name people and dates
                result.note("dicom_attribute", "SpecimenPreparationSequence", "removed")
    before = len([e for e in ds.iterall() if e.tag.is_private])
    if before:
        ds.remove_private_tags()
        result.note("dicom_attribute", "private tags", f"{before} removed")
    for parent, elem in list(_walk(ds)):
        if elem.VR in PERSON_OR_TIME_VRS and elem.value not in (None, "") and elem.keyword not in PSEUDONYMISE:
            result.needle(elem.value)
            elem.value = ""
            result.note("dicom_attribute", elem.keyword or str(elem.tag), "person name/date/time blanked")
        elif elem.VR == "UI" and elem.keyword in UID_KEYWORDS and elem.value:
            old = str(elem.value)
            result.needle(old)
            elem.value = uid_map.setdefault(old, generate_uid())
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "glomcheck deid: labels dropped, identifiers blanked"


def _image_type(ds: Dataset) -> set[str]:
    value = ds.get("ImageType", [])
    return {str(v).upper() for v in (value if not isinstance(value, str) else [value])}


def deidentify_series(src_dir: Path, out_dir: Path, *, pseudonym: str) -> DicomResult:
    """Write a de-identified copy of the WSI series in `src_dir` into the (empty) `out_dir`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vendor headers (UIDs with trailing dots etc.) are copied as found
        return _deidentify_series(src_dir, out_dir, pseudonym)


def _deidentify_series(src_dir: Path, out_dir: Path, pseudonym: str) -> DicomResult:
    result = DicomResult()
    files = sorted(p for p in src_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    uid_map: dict[str, str] = {}
    volumes: list[tuple[int, Path, Path]] = []  # (pixels, source, output)
    written = 0
    for path in files:
        ds = _read(path)
        if ds is None:
            result.note("file", "non-DICOM file", "not copied")
            continue
        if ds.get("SOPClassUID") != WSI_SOP_CLASS:
            result.note("file", "non-WSI DICOM instance", f"SOP class {ds.get('SOPClassUID', '?')} not copied")
            continue
        types = _image_type(ds)
        dropped = types & DROP_IMAGE_TYPES
        if dropped:
            result.note("associated_image", sorted(dropped)[0].lower(), "DICOM instance not copied")
            for kw in ("LabelText", "BarcodeValue", "ContainerIdentifier"):
                if kw in ds:
                    result.needle(ds[kw].value)
            continue
        result.needle(path.stem)
        _scrub(ds, pseudonym, uid_map, result)
        out = out_dir / f"{pseudonym}-{written:04d}.dcm"
        written += 1
        if "MediaStorageSOPInstanceUID" in ds.file_meta:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(out)
        if "VOLUME" in types:
            volumes.append((int(ds.get("TotalPixelMatrixColumns", 0)) * int(ds.get("TotalPixelMatrixRows", 0)), path, out))
    if not volumes:
        raise DeidError("no DICOM whole-slide VOLUME instances found in the input folder")
    result.note("file", "original file names", f"{written} files renamed to {pseudonym}-NNNN.dcm")
    _, result.source_volume, result.output_volume = max(volumes, key=lambda v: v[0])
    return result


def metadata_text(out_dir: Path) -> list[str]:
    """Every header element of every output file as text, for the needle search."""
    texts: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in sorted(out_dir.glob("*.dcm")):
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            texts.append(str(ds.file_meta))
            texts.extend(str(elem.value) for elem in ds.iterall() if elem.VR not in ("SQ", "OB", "OW"))
    return texts
