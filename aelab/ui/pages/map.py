"""Latent map: the dataset's codes in 2-D (PCA, t-SNE or UMAP), coloured by label; click to inspect.

With the disk cache filled, the map is drawn from labels and projections alone, no model run. A click
reruns only the `explore` fragment, whose figure stays the one the page built: the browser marks
the click itself and Streamlit does not redraw the 10,000 points.
"""

from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from aelab.data.dataset import sample_indices
from aelab.data.registry import dataset_title, factor_names
from aelab.explore import projections
from aelab.images import render
from aelab.ui import caches, keys, map_codes, map_figure, map_layers, navigation, progress, text
from aelab.ui.context import Context, require_context

COMPUTED_POINTS = [1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000]  # then all of a split
METHODS = {"PCA": "pca", "t-SNE": "tsne", "UMAP": "umap"}
SETTINGS = {"tsne": ("Perplexity", 5, 100, 30), "umap": ("Neighbours", 5, 100, 15)}  # label, low, high, default
TOOL = "map_tool"  # the drag tool of the last box or lasso: a rerun draws the map with it still chosen
TOOLS = {"box": "select", "lasso": "lasso"}  # Plotly's dragmode for each kind of selection
TICK_S = 0.5  # how often the bar of a map being computed says its time so far
MAP_DETAIL = "aelab.ui.map_detail"  # the detail panel's module: it runs the model, so it imports torch


def computed_projection(ctx: Context, method: str, n_images: int) -> projections.Projection:
    """The t-SNE or UMAP map with these settings; computed once (with progress) when the person asks for it."""
    title = next(name for name, key in METHODS.items() if key == method)
    options = [n for n in COMPUTED_POINTS if n < n_images] + [n_images]
    n_points = st.select_slider(
        "Points",
        options,
        value=min(5000, n_images),
        format_func=lambda n: f"{n:,}" + (" (all)" if n == n_images else ""),
        key=f"{method}_points" + ("" if ctx.split == "test" else f"_{ctx.split}"),  # each split its own choice
    )
    label, low, high, default = SETTINGS[method]
    args = (method, n_points, float(st.slider(label, low, high, default, key=f"{method}_setting")))
    projection = caches.maps.stored(ctx.key, *args)
    if projection is not None:
        return projection
    prompt = st.empty()
    with prompt.container():
        st.info(
            f"This {title} map has not been computed yet: it is computed once, then kept; its bar shows the time "
            "it takes on this machine."
        )
        if not st.button(f"Compute {title}", type="primary", key=f"{method}_go"):
            st.stop()
    bar = st.progress(0.0, text=f"Computing {title}…")
    clock, done = progress.Clock(), [0.0]
    compiling = method == "umap" and not projections.umap_compiled()
    with ThreadPoolExecutor(1) as pool:  # computed aside, so this script thread can tell the time as it goes
        future = pool.submit(caches.maps.computed, ctx.key, *args, progress=partial(done.__setitem__, 0))
        while wait([future], timeout=TICK_S).not_done:
            bar.progress(min(1.0, done[0]), text=progress.projection_text(title, done[0], clock, compiling))
    projection = future.result()
    bar.empty()
    prompt.empty()  # computed: the prompt and its button go
    return projection


def place(ctx: Context, projection: projections.Projection, codes: np.ndarray) -> np.ndarray:
    """Where codes that are not the dataset's (uploads, a path) fall on this map."""
    if projection.method == "pca":
        return projections.pca_transform(projection, codes)
    setting = projection.params[caches.maps.COMPUTED_MAPS[projection.method]]
    return caches.maps.placer(ctx.key, projection.method, projection.params["n_points"], setting)(codes)


def on_select(context: caches.ModelData) -> None:
    """Turn a click into the selected dataset row or, on a PCA map's empty space, a spot to decode, and a
    box or lasso into a region; an empty selection (a double click) clears it, as the map does."""
    selection = st.session_state["latent_map"].selection
    points = selection.points
    rows = map_figure.map_rows(points)
    if selection.box or selection.lasso:
        st.session_state[TOOL] = TOOLS["box" if selection.box else "lasso"]
        keys.set_map_region(keys.MapRegion(context, tuple(sorted(set(rows)))) if rows else None)
    elif rows:
        keys.set_map_click(keys.MapClick(context, index=rows[0]))
    elif points and points[0].get("legendgroup") == map_figure.MAP_CELLS:
        keys.set_map_click(keys.MapClick(context, location=(float(points[0]["x"]), float(points[0]["y"]))))
    elif not points:
        keys.set_map_click(None)
        keys.set_map_region(None)


@st.fragment
def explore(
    ctx: Context,
    projection: projections.Projection,
    fig: go.Figure,
    classes: list[str] | None,
    n_images: int,
    drawn_region: keys.MapRegion | None,
    shared: bool,
) -> None:
    """The map and the detail of what was clicked on it: a click reruns this alone, with the same figure.
    `classes` names the colours of a map coloured by label (None: it has a colour bar). A box or lasso
    other than `drawn_region`, the one the figure greys the rest for, reruns the page to draw it. `shared`: the
    map's images are the other pages' (the sidebar's split, as held), so its points can be sent to them."""
    region = keys.map_region(ctx.key)
    if region != drawn_region:
        st.rerun()
    chart_col, detail = st.columns([3, 1.4])
    pca = projection.method == "pca"
    with chart_col:
        if classes:  # an unlabelled dataset (CelebA, a folder without subfolders) has no key
            st.html(map_figure.class_legend(classes))  # st.html: no markdown, so the browser loads no HTML parser
        st.plotly_chart(
            fig,
            key="latent_map",
            on_select=partial(on_select, ctx.key),
            selection_mode=("points", "box", "lasso"),
            config={"scrollZoom": True, "displaylogo": False},
        )
        st.caption(
            f"{len(projection.coords):,} of the {n_images:,} images of the "
            f"{map_codes.SPLITS.get(ctx.split, ctx.split)} of {dataset_title(ctx.dataset)}. "
            "Click a point to inspect it"
            + ("; click between points to decode that spot" if pca else "")
            + ". Draw a box or a lasso (the toolbar's selection tools) to see a group; Clear selection "
            "(or, with the pan tool, a double-click) clears it."
        )
    with detail:
        click = keys.map_click(ctx.key)
        if region is not None or click is not None:
            from aelab.ui import map_detail  # it runs the model (and so imports torch): only a click needs it
        else:  # nothing clicked yet: torch is imported while the person looks at the map
            caches.models.import_soon(MAP_DETAIL)
        if region is not None:
            map_detail.region_detail(ctx, region, projection, shared)
        elif click is not None and click.location is not None and pca:
            map_detail.decoded_spot(ctx, projection, click.location)
        elif click is not None and click.index is not None:
            map_detail.dataset_image(ctx, click.index, projection, shared)
        else:
            st.info("Click a point on the map to see its image and reconstruction.")


ctx = require_context()
st.title("Latent map")
st.page_link(
    navigation.START.script, label="New to autoencoders? Start here: each idea in order", icon=navigation.START.icon
)
controls, main = st.columns([1, 4.4])

with controls:
    pages_ctx, ctx = ctx, map_codes.covered(ctx)
    labels, classes = ctx.labels()
    method = st.radio(
        "Projection",
        list(METHODS),
        key="map_method",
        **keys.KEEP,
        help="PCA is linear and invertible (click anywhere to decode); t-SNE and UMAP keep neighbours "
        "together, UMAP more of the global layout.",
    )
    plane = False
    if method == "PCA":
        projection = caches.maps.pca(ctx.key)
        ratio = projection.params["explained_variance_ratio"]
        st.caption(f"The two axes explain {100 * sum(ratio):.0f}% of the codes' variance.")
        plane = st.checkbox(
            "Decoded plane",
            key="map_plane",
            **keys.KEEP,
            help="What the decoder draws at each spot of this plane (the other axes at the "
            "codes' mean): Kingma and Welling's 2-D manifold figure, for any model.",
        )
    else:
        projection = computed_projection(ctx, METHODS[method], len(labels))
    thumbnails = st.checkbox(
        "Pictures",
        key="map_thumbnails",
        **keys.KEEP,
        help=f"{map_layers.THUMBNAILS} of the points drawn as their images; zoom in to see them larger.",
    )
    colour_by = st.selectbox(
        "Colour by",
        text.colour_options(ctx.is_variational, factor_names(ctx.dataset), scored=not ctx.whole),
        format_func=text.colour_title,
        key="map_colour_by",
        help=text.COLOUR_HELP + (text.UNSCORED if ctx.whole else ""),
    )
    path = keys.interpolation_path(ctx.digest)
    show_path = path is not None and st.checkbox(
        "Show path A→B",
        value=True,
        key="map_show_path",
        help="The Interpolate page's path from image A to image B through this model's latent space.",
    )

click = keys.map_click(ctx.key) or keys.MapClick(ctx.key)
region = keys.map_region(ctx.key)
values: np.ndarray | None  # one number per point to colour it by; None: by label
if colour_by == text.TRUST:
    values = caches.maps.trust(ctx.key, f"{projection.method} {projection.params}", projection)
else:
    values = None if colour_by == text.LABEL else caches.maps.colour_values(ctx.key, colour_by)[projection.index]
fig = map_figure.latent_map(
    projection.coords,
    projection.index,
    labels[projection.index],
    len(classes),
    method,
    clickable_cells=method == "PCA",
    decoded=click.location,
    selected=None if click.index is None else projection.position(click.index),
    values=values,
    values_title=text.colour_title(colour_by),
    region=None if region is None else projection.positions(region.rows),
    tool=st.session_state.get(TOOL, "pan"),
)
if plane:
    map_layers.add_background(fig, *caches.maps.decoded_plane(ctx.key))
if thumbnails:
    shown = sample_indices(len(projection.coords), map_layers.THUMBNAILS, seed=0)
    width = float(np.ptp(projection.coords[:, 0]))
    map_layers.add_thumbnails(
        fig,
        render.to_pictures(ctx.rows(projection.index[shown])),
        projection.coords[shown],
        width * map_layers.THUMBNAIL_SHARE,
    )
uploads = keys.uploads()
if uploads:
    map_layers.add_uploads(fig, place(ctx, projection, ctx.encode(list(uploads.values()))), list(uploads))
if show_path and path is not None:
    map_layers.add_path(fig, place(ctx, projection, path))

with main:
    explore(ctx, projection, fig, classes if values is None else None, len(labels), region, ctx.key == pages_ctx.key)
