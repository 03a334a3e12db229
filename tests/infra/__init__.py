"""Tests of the test infrastructure itself: throwaway servers, markers, CI strictness."""
