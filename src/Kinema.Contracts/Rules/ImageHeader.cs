using System.Buffers.Binary;

namespace Kinema.Contracts.Rules;

/// <summary>An image's format and pixel size, read from its header without decoding any pixels.</summary>
/// <param name="MediaType"><c>image/png</c>, <c>image/jpeg</c>, <c>image/gif</c> or <c>image/webp</c>.</param>
/// <param name="Width">Pixel width.</param>
/// <param name="Height">Pixel height.</param>
public sealed record ImageHeader(string MediaType, int Width, int Height)
{
    /// <summary>Width × height.</summary>
    public long Pixels => (long)Width * Height;

    /// <summary>
    /// Reads the format and dimensions of a PNG (IHDR), JPEG (the first SOFn marker), GIF (the logical screen) or WebP
    /// (VP8, VP8L or VP8X) image. Returns null with a reason when the bytes are no such image or are cut short.
    /// </summary>
    /// <remarks>
    /// "Truncated" is judged by the container, not by decoding: a PNG's chunk chain must be complete up to and including
    /// IEND; a JPEG's marker segments must be complete up to the SOFn and the file must end with EOI (FF D9); a GIF
    /// must end with its trailer byte (3B); a WebP must be as long as its RIFF header says and its first chunk must
    /// fit. A file whose compressed data is damaged inside a complete container passes here and fails when decoded.
    /// </remarks>
    public static ImageHeader? TryRead(ReadOnlySpan<byte> bytes, out string problem)
    {
        problem = "";
        if (bytes is [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, ..])
        {
            return ReadPng(bytes, out problem);
        }

        if (bytes is [0xFF, 0xD8, 0xFF, ..])
        {
            return ReadJpeg(bytes, out problem);
        }

        if (bytes.Length >= 6 && (bytes[..6].SequenceEqual("GIF87a"u8) || bytes[..6].SequenceEqual("GIF89a"u8)))
        {
            return ReadGif(bytes, out problem);
        }

        if (bytes.Length >= 12 && bytes[..4].SequenceEqual("RIFF"u8) && bytes[8..12].SequenceEqual("WEBP"u8))
        {
            return ReadWebp(bytes, out problem);
        }

        problem = "is not a JPEG, PNG, GIF or WebP image";
        return null;
    }

    private static ImageHeader? ReadPng(ReadOnlySpan<byte> bytes, out string problem)
    {
        // IHDR must come first: length 13, type, width, height, … and its CRC.
        if (bytes.Length < 8 + 8 + 13 + 4 || BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]) != 13 || !bytes[12..16].SequenceEqual("IHDR"u8))
        {
            problem = "is a truncated PNG (no complete IHDR chunk)";
            return null;
        }

        var width = BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]);
        var height = BinaryPrimitives.ReadUInt32BigEndian(bytes[20..]);
        // Walk the chunk chain by its lengths (no inflating): it must reach IEND inside the data.
        var offset = 8L;
        while (true)
        {
            if (offset + 12 > bytes.Length)
            {
                problem = "is a truncated PNG (it ends before its IEND chunk)";
                return null;
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(bytes[(int)offset..]);
            var type = bytes.Slice((int)offset + 4, 4);
            var next = offset + 12 + length;
            if (next > bytes.Length)
            {
                problem = "is a truncated PNG (a chunk runs past the end of the data)";
                return null;
            }

            if (type.SequenceEqual("IEND"u8))
            {
                break;
            }

            offset = next;
        }

        return Sized("image/png", width, height, out problem);
    }

    private static ImageHeader? ReadJpeg(ReadOnlySpan<byte> bytes, out string problem)
    {
        // Padding after EOI is common (cameras, some encoders): trailing zero bytes are ignored, anything else is not.
        var end = bytes.Length;
        while (end > 2 && bytes[end - 1] == 0)
        {
            end--;
        }

        if (end < 4 || bytes[end - 2] != 0xFF || bytes[end - 1] != 0xD9)
        {
            problem = "is a truncated JPEG (it does not end with the EOI marker)";
            return null;
        }

        var offset = 2;
        while (true)
        {
            // Markers may be preceded by any number of FF fill bytes.
            while (offset < end && bytes[offset] == 0xFF && offset + 1 < end && bytes[offset + 1] == 0xFF)
            {
                offset++;
            }

            if (offset + 4 > end || bytes[offset] != 0xFF)
            {
                problem = "is a truncated or malformed JPEG (no frame header before the image data)";
                return null;
            }

            var marker = bytes[offset + 1];
            if (marker is 0xD9 or 0xDA)
            {
                problem = "is a malformed JPEG (the image data starts before any frame header)";
                return null;
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                offset += 2; // stand-alone markers carry no length
                continue;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 2)..]);
            if (length < 2 || offset + 2 + length > end)
            {
                problem = "is a truncated JPEG (a marker segment runs past the end of the data)";
                return null;
            }

            // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
            if (marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC))
            {
                if (length < 7)
                {
                    problem = "is a malformed JPEG (a frame header is too short)";
                    return null;
                }

                var height = BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 5)..]);
                var width = BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 7)..]);
                return Sized("image/jpeg", width, height, out problem);
            }

            offset += 2 + length;
        }
    }

    private static ImageHeader? ReadGif(ReadOnlySpan<byte> bytes, out string problem)
    {
        if (bytes.Length < 13 + 1)
        {
            problem = "is a truncated GIF (no complete logical screen descriptor)";
            return null;
        }

        if (bytes[^1] != 0x3B)
        {
            problem = "is a truncated GIF (it does not end with the trailer byte)";
            return null;
        }

        var width = BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]);
        var height = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
        return Sized("image/gif", width, height, out problem);
    }

    private static ImageHeader? ReadWebp(ReadOnlySpan<byte> bytes, out string problem)
    {
        var riffSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
        if (riffSize + 8L > bytes.Length || bytes.Length < 20)
        {
            problem = "is a truncated WebP (shorter than its RIFF header says)";
            return null;
        }

        var chunk = bytes.Slice(12, 4);
        var chunkSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes[16..]);
        var payload = bytes[20..];
        if (chunkSize > payload.Length)
        {
            problem = "is a truncated WebP (its first chunk runs past the end of the data)";
            return null;
        }

        payload = payload[..(int)chunkSize];
        if (chunk.SequenceEqual("VP8 "u8))
        {
            // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height (2 bits of scale each).
            if (payload.Length < 10 || payload[3] != 0x9D || payload[4] != 0x01 || payload[5] != 0x2A)
            {
                problem = "is a malformed WebP (no VP8 frame header)";
                return null;
            }

            return Sized("image/webp", BinaryPrimitives.ReadUInt16LittleEndian(payload[6..]) & 0x3FFFu,
                BinaryPrimitives.ReadUInt16LittleEndian(payload[8..]) & 0x3FFFu, out problem);
        }

        if (chunk.SequenceEqual("VP8L"u8))
        {
            // Signature 2F, then width − 1 and height − 1 in 14 bits each.
            if (payload.Length < 5 || payload[0] != 0x2F)
            {
                problem = "is a malformed WebP (no VP8L header)";
                return null;
            }

            var bits = BinaryPrimitives.ReadUInt32LittleEndian(payload[1..]);
            return Sized("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, out problem);
        }

        if (chunk.SequenceEqual("VP8X"u8))
        {
            // Flags (4 bytes), then canvas width − 1 and height − 1 in 24 bits each.
            if (payload.Length < 10)
            {
                problem = "is a malformed WebP (the VP8X header is too short)";
                return null;
            }

            var width = payload[4] | (uint)payload[5] << 8 | (uint)payload[6] << 16;
            var height = payload[7] | (uint)payload[8] << 8 | (uint)payload[9] << 16;
            return Sized("image/webp", width + 1, height + 1, out problem);
        }

        problem = "is a malformed WebP (its first chunk is not VP8, VP8L or VP8X)";
        return null;
    }

    private static ImageHeader? Sized(string mediaType, uint width, uint height, out string problem)
    {
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
        {
            problem = $"declares an impossible size ({width}×{height})";
            return null;
        }

        problem = "";
        return new ImageHeader(mediaType, (int)width, (int)height);
    }
}
