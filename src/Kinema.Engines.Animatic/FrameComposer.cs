using System.Globalization;
using SkiaSharp;

namespace Kinema.Engines.Animatic;

/// <summary>A picture the preview shows, decoded once.</summary>
internal sealed record ElementPicture(string Name, SKImage Image);

/// <summary>
/// Draws the preview's frames. Everything that does not change within a shot (captions, scaled insets) is drawn
/// once per shot into cached images, so a frame costs a background, a few blits and the time code.
/// </summary>
internal sealed class FrameComposer : IDisposable
{
    private const float KenBurnsZoom = 0.12f;
    private readonly int _width;
    private readonly int _height;
    private readonly int _totalFrames;
    private readonly int _fps;
    private readonly IReadOnlyList<ShotSegment> _segments;
    private readonly SKImage? _first;
    private readonly SKImage? _last;
    private readonly IReadOnlyList<ElementPicture> _elements;
    private readonly bool _watermark;
    private readonly SKTypeface _typeface;
    private readonly SKFont _hudFont;
    private readonly SKPaint _hudPaint = new() { Color = SKColors.White, IsAntialias = true };
    private readonly SKPaint _shadowPaint = new() { Color = new SKColor(0, 0, 0, 150), IsAntialias = true };
    private readonly SKPaint _imagePaint = new() { IsAntialias = true };
    private readonly SKSamplingOptions _sampling = new(SKFilterMode.Linear, SKMipmapMode.None);
    private readonly Dictionary<int, List<(SKImage Image, SKPointI At)>> _overlays = [];
    private readonly Dictionary<int, SKImage> _backgrounds = [];
    private readonly string _label;

    public FrameComposer(
        int width, int height, int framesPerSecond, IReadOnlyList<ShotSegment> segments, SKImage? first, SKImage? last,
        IReadOnlyList<ElementPicture> elements, bool watermark, string fontPath, string label)
    {
        _width = width;
        _height = height;
        _fps = framesPerSecond;
        _segments = segments;
        _totalFrames = segments[^1].EndFrame;
        _first = first;
        _last = last;
        _elements = elements;
        _watermark = watermark;
        _label = label;
        _typeface = File.Exists(fontPath) ? SKTypeface.FromFile(fontPath) ?? SKTypeface.Default : SKTypeface.Default;
        _hudFont = new SKFont(_typeface, Scale(30));
    }

    private float Scale(float size) => size * Math.Min(_width, _height) / 720f;

    public void Draw(SKCanvas canvas, int frame)
    {
        var segment = SegmentAt(frame);
        DrawBackground(canvas, frame, segment);
        foreach (var (image, at) in OverlayFor(segment))
        {
            canvas.DrawImage(image, at.X, at.Y);
        }

        DrawTimeCode(canvas, frame, segment);
    }

    internal ShotSegment SegmentAt(int frame)
    {
        foreach (var segment in _segments)
        {
            if (frame < segment.EndFrame)
            {
                return segment;
            }
        }

        return _segments[^1];
    }

    private void DrawBackground(SKCanvas canvas, int frame, ShotSegment segment)
    {
        var progress = _totalFrames > 1 ? frame / (float)(_totalFrames - 1) : 0f;
        if (_first is null)
        {
            DrawGradient(canvas, frame, segment);
            return;
        }

        DrawCover(canvas, _first, progress, 255);
        if (_last is not null)
        {
            // First + last frame: the clip travels from one picture to the other; the last frame is the last picture.
            DrawCover(canvas, _last, progress, (byte)Math.Clamp(progress * 255f, 0, 255));
        }
    }

    /// <summary>Cover-fits the picture and moves it: a slow zoom in with a gentle pan (Ken Burns).</summary>
    private void DrawCover(SKCanvas canvas, SKImage image, float progress, byte alpha)
    {
        if (alpha == 0)
        {
            return;
        }

        var cover = Math.Max(_width / (float)image.Width, _height / (float)image.Height) * (1 + (KenBurnsZoom * progress));
        var drawnWidth = image.Width * cover;
        var drawnHeight = image.Height * cover;
        var left = ((_width - drawnWidth) / 2) - ((drawnWidth - _width) * 0.25f * (progress - 0.5f));
        var top = (_height - drawnHeight) / 2;
        _imagePaint.Color = new SKColor(255, 255, 255, alpha);
        canvas.DrawImage(image, SKRect.Create(left, top, drawnWidth, drawnHeight), _sampling, _imagePaint);
    }

    /// <summary>
    /// A text-to-video shot pans across a wide scene drawn once per shot; a frame is then one opaque copy, which
    /// keeps drawing far below the encoder's cost.
    /// </summary>
    private void DrawGradient(SKCanvas canvas, int frame, ShotSegment segment)
    {
        var scene = SceneFor(segment);
        var travel = scene.Width - _width;
        var progress = segment.FrameCount > 1 ? (frame - segment.StartFrame) / (float)(segment.FrameCount - 1) : 0f;
        canvas.DrawImage(scene, -(int)MathF.Round(travel * progress), 0);
    }

    private SKImage SceneFor(ShotSegment segment)
    {
        if (_backgrounds.TryGetValue(segment.Number, out var cached))
        {
            return cached;
        }

        var width = _width + (_width / 4);
        var hue = (uint)StableHash(segment.Prompt + segment.Number) % 360;
        using var surface = SKSurface.Create(new SKImageInfo(width, _height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var canvas = surface.Canvas;
        using (var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, _height),
                   [SKColor.FromHsl(hue, 55, 28), SKColor.FromHsl((hue + 50) % 360, 60, 45), SKColor.FromHsl((hue + 90) % 360, 50, 30)],
                   SKShaderTileMode.Clamp))
        using (var paint = new SKPaint { Shader = shader })
        {
            canvas.DrawRect(0, 0, width, _height, paint);
        }

        // A few soft shapes give the pan something to move past.
        var random = new Random(StableHash(segment.Prompt));
        using var shape = new SKPaint { IsAntialias = true };
        for (var i = 0; i < 7; i++)
        {
            shape.Color = SKColor.FromHsl((hue + 150 + (uint)(i * 25)) % 360, 60, 60).WithAlpha(60);
            var radius = Math.Min(_width, _height) * (0.06f + (0.12f * (float)random.NextDouble()));
            canvas.DrawCircle(width * (float)random.NextDouble(), _height * (0.15f + (0.55f * (float)random.NextDouble())), radius, shape);
        }

        var image = surface.Snapshot();
        _backgrounds[segment.Number] = image;
        return image;
    }

    private void DrawTimeCode(SKCanvas canvas, int frame, ShotSegment segment)
    {
        var seconds = frame / _fps;
        var text = string.Create(CultureInfo.InvariantCulture, $"Shot {segment.Number}/{segment.Count}   {seconds / 60:00}:{seconds % 60:00}.{frame % _fps:00}");
        var margin = Scale(24);
        var y = margin + _hudFont.Size;
        canvas.DrawText(text, margin + 2, y + 2, _hudFont, _shadowPaint);
        canvas.DrawText(text, margin, y, _hudFont, _hudPaint);
    }

    /// <summary>
    /// Caption, element insets, label and watermark of one shot, drawn once, then cut into the few rectangles that hold
    /// something, so a frame blends those and not a whole transparent layer.
    /// </summary>
    private List<(SKImage Image, SKPointI At)> OverlayFor(ShotSegment segment)
    {
        if (_overlays.TryGetValue(segment.Number, out var cached))
        {
            return cached;
        }

        using var surface = SKSurface.Create(new SKImageInfo(_width, _height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.Transparent);
        DrawCaption(canvas, segment.Prompt);
        DrawElements(canvas, segment.Prompt);
        using (var labelFont = new SKFont(_typeface, Scale(20)))
        using (var labelPaint = new SKPaint { Color = SKColors.White.WithAlpha(190), IsAntialias = true })
        {
            canvas.DrawText(_label, Scale(24), Scale(24) + _hudFont.Size + labelFont.Size + Scale(8), labelFont, labelPaint);
        }

        if (_watermark)
        {
            DrawWatermark(canvas);
        }

        using var full = surface.Snapshot();
        var pieces = new List<(SKImage Image, SKPointI At)>();
        foreach (var region in ContentRegions(full))
        {
            if (full.Subset(region) is { } piece)
            {
                pieces.Add((piece, new SKPointI(region.Left, region.Top)));
            }
        }

        _overlays[segment.Number] = pieces;
        return pieces;
    }

    /// <summary>Horizontal bands of rows that have any visible pixel, each trimmed to its columns.</summary>
    private static List<SKRectI> ContentRegions(SKImage image)
    {
        using var pixels = image.PeekPixels() ?? throw new InvalidOperationException("an overlay must be a raster image");
        var span = pixels.GetPixelSpan<uint>();
        var width = image.Width;
        var regions = new List<SKRectI>();
        int? bandTop = null;
        int left = width, right = -1;
        for (var y = 0; y <= image.Height; y++)
        {
            var rowLeft = -1;
            var rowRight = -1;
            if (y < image.Height)
            {
                var row = span.Slice(y * width, width);
                rowLeft = row.IndexOfAnyExcept(0u);
                rowRight = rowLeft < 0 ? -1 : row.LastIndexOfAnyExcept(0u);
            }

            if (rowLeft >= 0)
            {
                bandTop ??= y;
                left = Math.Min(left, rowLeft);
                right = Math.Max(right, rowRight);
            }
            else if (bandTop is { } top)
            {
                regions.Add(new SKRectI(left, top, right + 1, y));
                bandTop = null;
                left = width;
                right = -1;
            }
        }

        return regions;
    }

    private void DrawCaption(SKCanvas canvas, string prompt)
    {
        if (string.IsNullOrWhiteSpace(prompt))
        {
            return;
        }

        using var font = new SKFont(_typeface, Scale(34));
        var maxWidth = _width * 0.86f;
        var lines = Wrap(prompt, font, maxWidth, maxLines: 4);
        var lineHeight = font.Size * 1.3f;
        var bandHeight = (lines.Count * lineHeight) + Scale(36);
        var bandTop = _height - bandHeight - Scale(28);
        using var band = new SKPaint { Color = new SKColor(0, 0, 0, 140), IsAntialias = true };
        canvas.DrawRoundRect(SKRect.Create(_width * 0.05f, bandTop, _width * 0.9f, bandHeight), Scale(14), Scale(14), band);
        using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
        for (var i = 0; i < lines.Count; i++)
        {
            var width = font.MeasureText(lines[i]);
            canvas.DrawText(lines[i], (_width - width) / 2, bandTop + Scale(18) + font.Size + (i * lineHeight), font, text);
        }
    }

    private void DrawElements(SKCanvas canvas, string prompt)
    {
        var mentioned = _elements.Where(e => prompt.Contains("@" + e.Name, StringComparison.OrdinalIgnoreCase)).ToList();
        var size = Math.Min(_width, _height) * 0.22f;
        var margin = Scale(24);
        using var frame = new SKPaint { Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = Scale(4) };
        using var font = new SKFont(_typeface, Scale(24));
        using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
        using var back = new SKPaint { Color = new SKColor(0, 0, 0, 150) };
        for (var i = 0; i < mentioned.Count; i++)
        {
            var element = mentioned[i];
            var rect = SKRect.Create(_width - size - margin, margin + Scale(60) + (i * (size + Scale(44))), size, size);
            var scale = Math.Max(size / element.Image.Width, size / element.Image.Height);
            var source = SKRect.Create((element.Image.Width - (size / scale)) / 2, (element.Image.Height - (size / scale)) / 2, size / scale, size / scale);
            canvas.DrawImage(element.Image, source, rect, _sampling, _imagePaint);
            canvas.DrawRect(rect, frame);
            var label = "@" + element.Name;
            canvas.DrawRect(SKRect.Create(rect.Left, rect.Bottom, rect.Width, Scale(34)), back);
            canvas.DrawText(label, rect.Left + Scale(8), rect.Bottom + Scale(26), font, text);
        }
    }

    private void DrawWatermark(SKCanvas canvas)
    {
        using var font = new SKFont(_typeface, Scale(28)) { Embolden = true };
        const string mark = "KINEMA · PREVIEW";
        var width = font.MeasureText(mark);
        var x = _width - width - Scale(28);
        var y = _height - Scale(24);
        using var box = new SKPaint { Color = new SKColor(255, 255, 255, 200), IsAntialias = true };
        canvas.DrawRoundRect(SKRect.Create(x - Scale(12), y - font.Size - Scale(4), width + Scale(24), font.Size + Scale(16)), Scale(8), Scale(8), box);
        using var ink = new SKPaint { Color = new SKColor(20, 20, 20), IsAntialias = true };
        canvas.DrawText(mark, x, y, font, ink);
    }

    private static List<string> Wrap(string text, SKFont font, float maxWidth, int maxLines)
    {
        var lines = new List<string>();
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = line.Length == 0 ? word : line + " " + word;
            if (font.MeasureText(candidate) <= maxWidth || line.Length == 0)
            {
                line = candidate;
                continue;
            }

            lines.Add(line);
            line = word;
            if (lines.Count == maxLines)
            {
                break;
            }
        }

        if (lines.Count < maxLines && line.Length > 0)
        {
            lines.Add(line);
        }
        else if (lines.Count == maxLines)
        {
            lines[^1] = lines[^1].TrimEnd('.') + " …";
        }

        return lines;
    }

    private static int StableHash(string value)
    {
        unchecked
        {
            var hash = 17;
            foreach (var c in value)
            {
                hash = (hash * 31) + c;
            }

            return hash & int.MaxValue;
        }
    }

    public void Dispose()
    {
        foreach (var piece in _overlays.Values.SelectMany(pieces => pieces))
        {
            piece.Image.Dispose();
        }

        foreach (var background in _backgrounds.Values)
        {
            background.Dispose();
        }

        _hudFont.Dispose();
        _hudPaint.Dispose();
        _shadowPaint.Dispose();
        _imagePaint.Dispose();
        if (!ReferenceEquals(_typeface, SKTypeface.Default))
        {
            _typeface.Dispose();
        }
    }
}
