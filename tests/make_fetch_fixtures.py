"""Build the recorded service answers shipped in `survey2survey/fixtures/` (see the README there).

    python tests/make_fetch_fixtures.py            # synthetic answers from `FakeSky` (how the shipped fixtures were made)
    python tests/make_fetch_fixtures.py --live     # re-record from the live services (network; DESaccess needs
                                                   # DESACCESS_TOKEN and DESACCESS_USER=jdoe... or edit USER below)

`FakeSky` is a small stand-in for every service the fetch uses: it answers SkyServer SQL
(CSV), Astro Data Lab TAP (VOTable), SkyServer `getjpeg` (JPEG), the Legacy Survey
`fits-cutout` (FITS cube), CDS hips2fits (FITS) and the DESaccess job API (JSON + FITS)
in those services' formats, from a made-up sky: galaxies with exponential profiles, a
bright star, and planted defects the cleaning must catch. The fetch code runs against it
unchanged, through a `RecordingTransport`, so the recording holds exactly the requests
the code makes.
"""
import argparse
import io
import json
import os
import re
import shutil
import sys
import urllib.parse
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.io.votable.tree import Info
from astropy.table import Table
from PIL import Image
from scipy import ndimage

from survey2survey.surveys import Display, lupton_rgb
from survey2survey.http import RecordingTransport, Response, Transport, UrllibTransport, fixtures_dir
from survey2survey.cutouts import DESaccess, Downloader, Hips2Fits, tan_wcs
from survey2survey.fetch import preset_config, record_fixtures

USER = "jdoe"
SDSS_JPEG = Display(Q=10.0, stretch=0.8, minimum=-0.3, band_scales=(1.0, 1.0, 1.0), bits=None) # the fake SkyServer's JPEG recipe
PAIR_TILE = (10.0, 10.2)
EXT_TILE = (180.0, 180.2)
# surface-brightness noise per pixel (nanomaggies/arcsec^2), from the surveys' depths: SDSS r 22.2 (5 sigma, PSF),
# DES coadd r 23.8 (10 sigma, 1.95" aperture)
NOISE = dict(sdss=0.31, des=0.066)
PSF_FWHM = dict(sdss=1.4, des=0.95)
# the fake services' pixel units (per nanomaggy) and the step their values are quantized to (in those units)
LEGACY_QUANTUM = 2**-8                                    # Legacy Survey cubes: nanomaggies per pixel
HIPS2FITS_UNITS = dict(des=(1000.0, 4.0), sdss=(1.0, 2**-5))  # DES coadds: zero point 30; SDSS frames: nanomaggies


def injected_noise(pixscale:dict) -> dict:
    "Noise σ of a pixel of each fake source's cutouts, nanomaggies/arcsec² on its own grid: sky noise and quantization (step²/12)."
    q = lambda survey, step_nmgy: float(np.hypot(NOISE[survey], step_nmgy/pixscale[survey]**2/np.sqrt(12)))
    return {"legacysurvey": q("des", LEGACY_QUANTUM), "hips2fits": q("des", HIPS2FITS_UNITS["des"][1]/HIPS2FITS_UNITS["des"][0]),
            "sdss-hips2fits": q("sdss", HIPS2FITS_UNITS["sdss"][1]/HIPS2FITS_UNITS["sdss"][0])}


def sky_model():
    "Galaxies and stars of the made-up sky, with the catalogue columns each survey reports."
    rng = np.random.default_rng(82)
    objs = []
    for k in range(10):                                        # P0..P8 pairs, S9 SDSS only
        r = 14.6 + 0.17*k if k < 9 else 17.3
        objs.append(dict(name=f"P{k}" if k < 9 else "S9", kind="galaxy", ra=PAIR_TILE[0] + 0.015 + 0.0185*k,
                         dec=-1.0 + 0.21*k, r=r, gr=0.55 + 0.03*k, ri=0.3 + 0.01*k, re=2.0 + 0.2*k, q=0.55 + 0.04*k,
                         pa=17.0*k, z=0.04 + 0.015*k, sdss=True, des=k < 9))
    objs.append(dict(name="D9", kind="galaxy", ra=PAIR_TILE[0] + 0.19, dec=1.1, r=15.9, gr=0.8, ri=0.35, re=2.5, q=0.7, pa=40,
                     z=0.31, sdss=False, des=True))      # beyond z = 0.25: DES lists it, the SDSS selection does not
    p6 = objs[6]
    objs.append(dict(name="star", kind="star", ra=p6["ra"] + 9/3600, dec=p6["dec"] + 8/3600, r=12.5, gr=0.4, ri=0.15))
    for k in range(5):                                         # E0..E4 external
        objs.append(dict(name=f"E{k}", kind="galaxy", ra=EXT_TILE[0] + 0.02 + 0.035*k, dec=-0.9 + 0.42*k, r=16.6 + 0.25*k,
                         gr=0.7, ri=0.35, re=1.8 + 0.3*k, q=0.6 + 0.07*k, pa=30.0*k, z=0.08 + 0.03*k, sdss=True, des=False))
    for i, o in enumerate(objs):
        o["objid"] = 1237663784734097408 + 1000*i + 17*(i % 3)
        o["specobjid"] = 9_800_000_000_000_000_000 + 10_000*i          # above 2**63: must survive as uint64
        o["coadd_object_id"] = 61_407_000 + 13*i
        # catalogue positions scatter around the truth by ~0.1-0.3"
        o["sdss_ra"], o["sdss_dec"] = o["ra"] + rng.normal(0, 0.15)/3600, o["dec"] + rng.normal(0, 0.15)/3600
        o["des_ra"], o["des_dec"] = o["ra"] + rng.normal(0, 0.1)/3600, o["dec"] + rng.normal(0, 0.1)/3600
        o["spread"], o["spreaderr"] = (0.001, 0.0015) if o["name"] == "P8" else (0.012 + 0.001*(i % 4), 0.0004)
    return objs


def mags(o):
    return dict(g=o["r"] + o["gr"], r=o["r"], i=o["r"] - o["ri"])


def render(objs, ra, dec, size, pixscale, band, survey, rotation_deg=0.0):
    "Surface brightness (nanomaggies/arcsec^2) of the sky on a TAN grid, PSF-convolved, noiseless; FITS order."
    wcs = tan_wcs(ra, dec, size, pixscale, rotation_deg)
    yy, xx = np.mgrid[:size, :size]
    pra, pdec = wcs.pixel_to_world_values(xx, yy)
    img = np.zeros((size, size))
    psf_sigma_pix = PSF_FWHM[survey]/2.3548/pixscale
    for o in objs:
        dx = ((pra - o["ra"] + 180) % 360 - 180)*np.cos(np.radians(o["dec"]))*3600
        dy = (pdec - o["dec"])*3600
        if np.hypot(dx, dy).min() > 60: continue
        flux = 10**((22.5 - mags(o)[band])/2.5)
        if o["kind"] == "star":
            s = PSF_FWHM[survey]/2.3548
            img += flux/(2*np.pi*s*s)*np.exp(-(dx**2 + dy**2)/(2*s*s))
            continue
        t = np.radians(o["pa"])
        u, v = dx*np.cos(t) + dy*np.sin(t), -dx*np.sin(t) + dy*np.cos(t)
        rd = o["re"]/1.678
        img += ndimage.gaussian_filter(flux/(2*np.pi*rd*rd*o["q"])*np.exp(-np.hypot(u, v/o["q"])/rd), psf_sigma_pix)
    return img, wcs


def quantized(x, step):
    return (np.round(x/step)*step).astype(np.float32)


def wcs_header(wcs):
    h = wcs.to_header()
    for k in ("DATE-OBS", "MJD-OBS", "DATEREF", "MJDREFI", "MJDREFF"): h.pop(k, None)
    return h


class FakeSky(Transport):
    "Every service the fetch uses, answering from `sky_model()` in the services' formats."
    def __init__(self):
        self.objs = sky_model()
        self.jobs = {}

    def request(self, method, url, body=None, headers=None, timeout=None):
        u = urllib.parse.urlsplit(url)
        q = dict(urllib.parse.parse_qsl(u.query))
        form = dict(urllib.parse.parse_qsl(body.decode())) if body else {}
        path = u.path
        if path.endswith("/x_results.aspx"): return self.sdss_sql(q["cmd"])
        if path.endswith("/tap/sync"): return self.tap(form["QUERY"])
        if path.endswith("/ImgCutout/getjpeg"): return self.getjpeg(url, q)
        if path.endswith("/viewer/fits-cutout"): return self.legacy(url, q)
        if path.endswith("/hips2fits"): return self.hips2fits(url, q)
        if "/desaccess/api/" in path or "/files-desaccess/" in path: return self.desaccess(method, url, path, form, headers or {})
        return Response(404, {"content-type": "text/plain"}, b"not found", url)

    # -- catalogues ---------------------------------------------------------------
    @staticmethod
    def _box(text, ra="ra", dec="dec"):
        m = re.search(rf"{re.escape(ra)} >= (\S+) AND {re.escape(ra)} < (\S+) AND {re.escape(dec)} BETWEEN (\S+) AND (\S+)", text)
        return tuple(float(x) for x in m.groups())

    def sdss_sql(self, sql):
        a, b, c, d = self._box(sql, "g.ra", "g.dec")
        m = re.search(r"objID % (\d+) = (\d+)", sql)
        rows = [o for o in self.objs if o.get("sdss") and a <= o["sdss_ra"] < b and c <= o["sdss_dec"] <= d
                and (m is None or o["objid"] % int(m.group(1)) == int(m.group(2)))]
        lines = ["#Table1", "objid,ra,dec,petroMag_g,petroMag_r,petroMag_i,petroMagErr_r,petroR50_r,flags,specobjid,z,zerr"]
        for o in sorted(rows, key=lambda o: o["objid"]):
            mg = mags(o)
            lines.append(f"{o['objid']},{o['sdss_ra']:.10f},{o['sdss_dec']:.10f},{mg['g'] + 0.05:.5f},{mg['r'] + 0.05:.5f},"
                         f"{mg['i'] + 0.05:.5f},0.00{3 + len(lines) % 5},{o['re']*1.2:.4f},268501008,{o['specobjid']},{o['z']:.6f},0.0000{len(lines) % 9 + 1}")
        return Response(200, {"content-type": "text/plain; charset=utf-8"}, ("\n".join(lines) + "\n").encode())

    def tap(self, adql):
        a, b, c, d = self._box(adql)
        gmax = float(re.search(r"mag_auto_g < (\S+)", adql).group(1))
        rows = [o for o in self.objs if o.get("des") and a <= o["des_ra"] < b and c <= o["des_dec"] <= d
                and mags(o)["g"] < gmax and o["spread"] + 3*o["spreaderr"] > 0.005]
        t = Table()
        t["coadd_object_id"] = np.array([o["coadd_object_id"] for o in rows], np.int64)
        t["ra"] = [o["des_ra"] for o in rows]
        t["dec"] = [o["des_dec"] for o in rows]
        t["tilename"] = [f"DES{int(o['des_ra']/15):02d}{int(o['des_ra']*4 % 60):02d}{'+' if o['des_dec'] >= 0 else '-'}{int(abs(o['des_dec'])*100):04d}" for o in rows]
        for band in "gri":
            t[f"mag_auto_{band}"] = [mags(o)[band] for o in rows]
        for band in "gri":
            t[f"magerr_auto_{band}"] = [0.001 + 0.0001*k for k in range(len(rows))]
        t["spread_model_i"] = [o["spread"] for o in rows]
        t["spreaderr_model_i"] = [o["spreaderr"] for o in rows]
        for col in ("flags", "imaflags_iso"):
            for band in "gri":
                t[f"{col}_{band}"] = np.zeros(len(rows), np.int32)
        vot = from_table(t)
        vot.resources[0].infos.append(Info(name="QUERY_STATUS", value="OK"))
        buf = io.BytesIO(); vot.to_xml(buf)
        return Response(200, {"content-type": "application/x-votable+xml"}, buf.getvalue())

    # -- cutouts --------------------------------------------------------------------
    def _near(self, ra, dec, names):
        o = min(self.objs, key=lambda o: np.hypot((o["ra"] - ra)*np.cos(np.radians(dec)), o["dec"] - dec))
        return o["name"] in names and np.hypot((o["ra"] - ra)*np.cos(np.radians(dec)), o["dec"] - dec)*3600 < 3

    def _bands(self, ra, dec, size, pixscale, survey, noise_seed):
        rng = np.random.default_rng(noise_seed)
        out, wcs = [], None
        for band in "gri":
            img, wcs = render(self.objs, ra, dec, size, pixscale, band, survey)
            out.append(img + rng.normal(0, NOISE[survey], img.shape))
        return np.stack(out), wcs

    def getjpeg(self, url, q):
        ra, dec, size, scale = float(q["ra"]), float(q["dec"]), int(q["width"]), float(q["scale"])
        if self._near(ra, dec, {"P7"}):
            return Response(200, {"content-type": "text/html"}, b"<!DOCTYPE html><html><head><title>SkyServer error</title></head>"
                            b"<body><h2>Error</h2><p>Unable to create the image: request timed out on the image server.</p></body></html>")
        if self._near(ra, dec, {"E4"}):
            rgb = np.zeros((size, size, 3), np.uint8)                        # off the SDSS footprint: a black frame
        else:
            sb, _ = self._bands(ra, dec, size, scale, "sdss", int(ra*1e6) % 2**31)
            rgb = (np.nan_to_num(lupton_rgb(sb, SDSS_JPEG))*255).round().astype(np.uint8)[::-1]
        buf = io.BytesIO(); Image.fromarray(rgb).save(buf, "JPEG", quality=75)
        return Response(200, {"content-type": "image/jpeg"}, buf.getvalue())

    def legacy(self, url, q):
        ra, dec, size, pix = float(q["ra"]), float(q["dec"]), int(q["size"]), float(q["pixscale"])
        sb, wcs = self._bands(ra, dec, size, pix, "des", int(dec*1e6) % 2**31)
        cube = sb*pix**2                                                      # nanomaggies per pixel
        if self._near(ra, dec, {"P5"}): cube[:, :, :int(0.4*size)] = 0.0     # the edge of DES coverage
        h = fits.PrimaryHDU(quantized(cube, LEGACY_QUANTUM), header=wcs_header(wcs))
        for i, b in enumerate(q["bands"]): h.header[f"BAND{i}"] = b
        buf = io.BytesIO(); h.writeto(buf)
        return Response(200, {"content-type": "image/fits"}, buf.getvalue())

    def _one_band(self, ra, dec, size, pix, band, survey, per_nmgy, step):
        sb, wcs = self._bands(ra, dec, size, pix, survey, int(ra*1e5 + dec*1e5) % 2**31)
        data = quantized(sb["gri".index(band)]*pix**2*per_nmgy, step)
        if survey == "sdss" and self._near(ra, dec, {"E4"}): data[:] = np.nan          # off the SDSS footprint: HiPS blank pixels
        buf = io.BytesIO(); fits.PrimaryHDU(data, header=wcs_header(wcs)).writeto(buf)
        return buf.getvalue()

    def hips2fits(self, url, q):
        size, fov = int(q["width"]), float(q["fov"])
        survey = "des" if "DES" in q["hips"] else "sdss"
        per_nmgy, step = HIPS2FITS_UNITS[survey]
        body = self._one_band(float(q["ra"]), float(q["dec"]), size, fov*3600/size, q["hips"][-1], survey, per_nmgy, step)
        return Response(200, {"content-type": "application/fits"}, body)

    def desaccess(self, method, url, path, form, headers):
        ok = lambda d: Response(200, {"content-type": "application/json"}, json.dumps({**d, "status": "ok", "new_token": "refreshed"}).encode())
        if path.endswith("/job/cutout"):
            job = "5f2b8c0e9a4d4c1e8f7a6b5c4d3e2f10"
            pos = [tuple(map(float, l.split(","))) for l in form["positions"].splitlines()[1:]]
            self.jobs[job] = dict(pos=pos, arcmin=float(form["xsize"]))
            return ok(dict(jobid=job, message="Job submitted"))
        if path.endswith("/job/status"): return ok(dict(jobs=[dict(job_id=form["job-id"], job_status="success")]))
        job = next(j for j in self.jobs if f"/{j}" in path)
        entries = []
        for ra, dec in self.jobs[job]["pos"]:
            name = f"DESJ{ra:011.6f}{dec:+010.6f}".replace(".", "")
            entries.append(dict(RA=ra, DEC=dec, SEXAGECIMAL=name, TILENAME="DES0040+0001",
                                FILES=[f"{name}_{b}.fits" for b in "gri"]))
        base = f"/files-desaccess/{USER}/cutout/{job}"
        if path == f"{base}/json":
            return Response(200, {"content-type": "application/json"}, json.dumps(
                [dict(name="summary.json", type="file"), dict(name="DES0040+0001", type="directory")]).encode())
        if path == f"{base}/DES0040+0001/json":
            return Response(200, {"content-type": "application/json"}, json.dumps(
                [dict(name=f, type="file") for e in entries for f in e["FILES"]]).encode())
        if path == f"{base}/summary.json":
            return Response(200, {"content-type": "application/json"}, json.dumps(dict(cutouts=entries)).encode())
        fname = path.rsplit("/", 1)[-1]
        e = next(e for e in entries if fname.startswith(e["SEXAGECIMAL"]))
        size = int(round(self.jobs[job]["arcmin"]*60/0.263))
        body = self._one_band(e["RA"], e["DEC"], size, 0.263, fname[-6], "des", 1000.0, 4.0)
        return Response(200, {"content-type": "application/fits"}, body)


def record_sources(folder, transport):
    "One galaxy from the sources the smoke preset does not use: hips2fits (DES and SDSS) and a DESaccess job."
    o = next(o for o in sky_model() if o["name"] == "P1")
    ra, dec = round(o["des_ra"], 7), round(o["des_dec"], 7)
    rec = RecordingTransport(transport, folder)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        dl = Downloader(d, rec, rate_per_s=2.0)
        for src in (Hips2Fits(size=48), Hips2Fits(hips="CDS/P/SDSS9/{band}", survey="sdss", release="DR9", size=32,
                                                  pixscale_arcsec=0.396, nmgy_per_unit=1.0)):
            dl.fetch(src.requests(ra, dec))
        src = DESaccess(size=48, poll_s=0)
        import pandas as pd
        src.prepare(pd.DataFrame(dict(ra=[ra], dec=[dec])), dl)
        dl.fetch(src.requests(ra, dec))
    (Path(folder)/"positions.json").write_text(json.dumps(dict(galaxy=[ra, dec]), indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--live", action="store_true", help="record the live services instead of FakeSky")
    p.add_argument("--out", type=Path, default=fixtures_dir("smoke").parent, help="the fixtures folder")
    a = p.parse_args()
    transport = UrllibTransport() if a.live else FakeSky()
    if not a.live: os.environ.update(DESACCESS_TOKEN="fake-token-for-the-recording", DESACCESS_USER=USER)
    for name in ("smoke", "sources"):
        shutil.rmtree(a.out/name, ignore_errors=True)
    record_fixtures(a.out/"smoke", transport)
    if not a.live:                                     # what the notebooks compare the fetched σ with
        cfg = preset_config("smoke")
        noise = dict(about="noise FakeSky (tests/make_fetch_fixtures.py) put in each cutout source's pixels: nanomaggy/arcsec2 "
                           "on the source's own grid, sky noise and quantization together", **injected_noise(dict(sdss=cfg.pixscale_arcsec, des=cfg.des_pixscale_arcsec)))
        (a.out/"smoke"/"noise.json").write_text(json.dumps(noise, indent=1) + "\n")
    record_sources(a.out/"sources", transport)
    for name in ("smoke", "sources"):
        files = [f for f in (a.out/name).rglob("*") if f.is_file()]
        print(f"{a.out/name}: {len(files)} files, {sum(f.stat().st_size for f in files)/1024:.0f} KiB")


if __name__ == "__main__":
    sys.exit(main())
