"""The imaging model: wavelength, tabulated cross-sections, probe transfer, rendering."""

from __future__ import annotations

import numpy as np
import pytest

from stemscan.scenes.imaging import (
    CARBON_ATOMS_PER_A3,
    ImagingModel,
    amorphous_carbon_signal,
    calibration_table,
    cross_section,
    electron_wavelength,
)


def test_relativistic_wavelength_matches_textbook_values():
    # lambda = h c / sqrt(E (2 m c^2 + E)): 0.04866 Å at 60 kV, 0.02508 Å at 200 kV, 0.01969 Å at 300 kV
    assert electron_wavelength(60) == pytest.approx(0.048661, rel=1e-4)
    assert electron_wavelength(200) == pytest.approx(0.025079, rel=1e-4)
    assert electron_wavelength(300) == pytest.approx(0.019687, rel=1e-4)


def test_cross_sections_grow_with_z_and_fall_with_voltage():
    values = [cross_section(z, 80, 80, 200) for z in (6, 8, 16, 42, 74, 82)]
    assert all(a < b for a, b in zip(values, values[1:]))
    by_voltage = [cross_section(42, kv, 80, 200) for kv in (60, 80, 120, 200, 300)]
    assert all(a > b for a, b in zip(by_voltage, by_voltage[1:]))
    # the annulus is additive: [80, 120) + [120, 200) = [80, 200)
    assert cross_section(16, 80, 80, 120) + cross_section(16, 80, 120, 200) == pytest.approx(
        cross_section(16, 80, 80, 200), rel=1e-9)


def test_tabulated_values_are_read_back_exactly():
    table = calibration_table()
    bins = np.asarray(table["cross_sections"]["6"])[table["voltages_kv"].index(60.0)]
    assert cross_section(6, 60, 80, 200) == pytest.approx(bins[80:200].sum(), rel=1e-9)


def test_untabulated_elements_are_interpolated_between_neighbours():
    tabulated = sorted(int(z) for z in calibration_table()["cross_sections"])
    for z in (10, 30, 50, 78):
        if z in tabulated:
            continue
        below = max(t for t in tabulated if t < z)
        above = min(t for t in tabulated if t > z)
        value = cross_section(z, 200, 80, 200)
        assert cross_section(below, 200, 80, 200) < value < cross_section(above, 200, 80, 200)


@pytest.mark.parametrize("kwargs, match", [
    ({"voltage_kv": 30}, "voltage_kv"),
    ({"voltage_kv": 400}, "voltage_kv"),
    ({"detector_inner_mrad": 25}, "must exceed convergence_mrad"),
    ({"detector_inner_mrad": 210}, "detector_inner_mrad"),
    ({"detector_outer_mrad": 400}, "detector_outer_mrad"),
    ({"convergence_mrad": 0}, "convergence_mrad"),
    ({"source_size": -1}, "source_size"),
    ({"probe_fwhm": 0.0}, "probe_fwhm"),
])
def test_bad_imaging_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImagingModel(**kwargs)


@pytest.mark.parametrize("bad, match", [((0, 60, 80, 200), "atomic_number"), ((6, 60, 200, 80), "below the outer"),
                                        ((6, 10, 80, 200), "voltage_kv"), ((True, 60, 80, 200), "atomic_number")])
def test_bad_cross_section_queries(bad, match):
    with pytest.raises(ValueError, match=match):
        cross_section(*bad)


def test_transfer_function_is_the_aperture_autocorrelation():
    model = ImagingModel(voltage_kv=60, convergence_mrad=30)
    otf = model.transfer_function((256, 256), 0.05)
    assert otf[0, 0] == pytest.approx(1.0)
    q = np.hypot(np.fft.fftfreq(256, 0.05)[:, None], np.fft.rfftfreq(256, 0.05)[None, :])
    cutoff = 2 * 0.030 / model.wavelength  # 2 alpha / lambda, 1/Å
    assert np.all(otf[q >= cutoff] == 0) and np.all(otf[q < 0.99 * cutoff] > 0)
    assert np.all(np.diff(otf[0, : int(cutoff * 256 * 0.05)]) <= 1e-12)  # monotone along q


@pytest.mark.parametrize("probe_fwhm", [None, 0.9])
def test_render_conserves_the_cross_section(probe_fwhm):
    model = ImagingModel(voltage_kv=80, probe_fwhm=probe_fwhm)
    pixel = 0.1
    positions = np.array([[200.3, 200.7], [180.0, 230.2]])
    sigmas = np.array([0.02, 0.005])
    image = model.render((400, 400), positions, sigmas, pixel)
    assert image.dtype == np.float32 and image.min() >= 0
    # the Airy probe's tails hold ~2 / (pi k r) of its intensity beyond r: ~0.8 % beyond the field's 20 Å
    assert image.sum() * pixel**2 == pytest.approx(sigmas.sum(), rel=1e-2 if probe_fwhm is None else 1e-3)
    # the brighter column is where it was put, and a probe-sized spot
    peak = np.unravel_index(np.argmax(image), image.shape)
    assert np.hypot(peak[0] - 200.3, peak[1] - 200.7) < 1.0
    half = image > image.max() / 2
    width_a = 2 * np.sqrt(half[185:215, 185:215].sum() / np.pi) * pixel  # FWHM from the area above half maximum
    expected = model.resolution_fwhm
    assert 0.7 * expected < width_a < 1.5 * expected


def test_resolution_follows_the_diffraction_limit():
    assert ImagingModel(voltage_kv=60, convergence_mrad=30).resolution_fwhm == pytest.approx(
        0.5145 * 0.048661 / 0.030, rel=1e-3)
    assert ImagingModel(voltage_kv=300, convergence_mrad=25).resolution_fwhm < 0.45
    assert ImagingModel(probe_fwhm=1.1).resolution_fwhm == 1.1


def test_amorphous_carbon_is_linear_in_thickness():
    one = amorphous_carbon_signal(1.0, 200, 80, 200)
    assert amorphous_carbon_signal(30.0, 200, 80, 200) == pytest.approx(30 * one)
    assert one == pytest.approx(CARBON_ATOMS_PER_A3 * cross_section(6, 200, 80, 200))
    assert amorphous_carbon_signal(0.0, 200, 80, 200) == 0.0
    with pytest.raises(ValueError, match="thickness"):
        amorphous_carbon_signal(-1.0, 200, 80, 200)


def test_params_are_json_ready():
    params = ImagingModel().to_params()
    assert params == {"voltage_kv": 60.0, "convergence_mrad": 30.0, "detector_inner_mrad": 80.0,
                      "detector_outer_mrad": 200.0, "source_size": 0.0, "probe_fwhm": None}


@pytest.mark.parametrize("family", ["lattice-defects", "ferroelectric-domains", "phase-separated", "nanoparticles"])
def test_every_family_takes_its_imaging_conditions(family):
    import stemscan.scenes as scenes

    base = scenes.make(family, seed=1, size=96)
    assert {"voltage_kv", "convergence_mrad", "detector_inner_mrad", "detector_outer_mrad"} <= set(base.params)
    # faster electrons scatter less to high angles; a wider annulus collects more
    faster = scenes.make(family, seed=1, size=96, voltage_kv=300)
    wider = scenes.make(family, seed=1, size=96, detector_outer_mrad=250)
    assert faster.image.mean() < 0.9 * base.image.mean()
    assert wider.image.mean() > base.image.mean()
    with pytest.raises(ValueError, match="detector_inner_mrad"):
        scenes.make(family, seed=1, size=96, detector_inner_mrad=10)
